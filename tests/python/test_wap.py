"""Write–audit–publish, end to end: real `kequn build` runs on broken copies of a small extract.

Every failing case must exit non-zero with a message naming what broke, keep the failed
build folder, and leave the published warehouse byte-for-byte unchanged. One good
warehouse is built once per session (conftest `handwritten_build`); each test works on its
own copy of that warehouse folder so the cases cannot disturb each other.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from conftest import (
    assert_failed_cleanly,
    build,
    isolated_env,
    kequn,
    read_csv,
    sha256,
    write_csv,
    write_orphan_trades,
)

from kequn import PROJECT_DIR, publish
from kequn.publish import KILL_AT
from kequn.state import state_dir, working_db

pytestmark = pytest.mark.slow


def test_missing_required_column_stops_before_dbt(home: Path, raw: Path) -> None:
    before = sha256(home)
    header, rows = read_csv(raw / "trades" / "trades_2025-11-27.csv")
    i = header.index("price")
    write_csv(raw / "trades" / "trades_2099-01-01.csv",
              header[:i] + header[i + 1:], [r[:i] + r[i + 1:] for r in rows])
    proc = build(raw, home)
    kept = assert_failed_cleanly(proc, home, before, "trades", "price", "lacks required column",
                                 code=2)
    assert not (kept / "target").exists(), "dbt must not run on a contract breach"


def test_empty_table_folder_fails_row_count_gate(home: Path, raw: Path) -> None:
    before = sha256(home)
    for f in (raw / "products").iterdir():
        f.unlink()
    proc = build(raw, home, "--full-refresh")
    kept = assert_failed_cleanly(proc, home, before, "raw gate FAILED", "products",
                                 "row count within bounds", code=2)
    _only_the_typing_pass_ran(kept)


def _only_the_typing_pass_ran(kept: Path) -> None:
    """The raw gate stopped the build after dbt's first phase: seeds and base models ran,
    no staging model or mart was built."""
    ran = {r["unique_id"] for r in json.loads(
        (kept / "target" / "run_results.json").read_text())["results"]}
    models = {u for u in ran if u.startswith("model.")}
    assert models and all(".base_brokerage__" in u for u in models), sorted(models)
    with duckdb.connect(str(kept / "kequn.duckdb"), read_only=True) as con:
        marts = con.execute("select count(*) from information_schema.tables "
                            "where table_schema = 'marts'").fetchone()[0]
    assert marts == 0, "no mart may be built on a broken extract"


def test_file_that_is_not_parquet(home: Path, raw: Path) -> None:
    before = sha256(home)
    (raw / "trades" / "trades_2099-01-01.parquet").write_bytes(b"PAR1 this is not parquet\n")
    proc = build(raw, home)
    assert_failed_cleanly(proc, home, before, "trades", "trades_2099-01-01.parquet",
                          "not valid PARQUET", code=2)


def test_file_that_is_not_csv(home: Path, raw: Path) -> None:
    before = sha256(home)
    (raw / "accounts" / "accounts_2099-01-01.csv").write_bytes(
        b'account_id,client_id\n"A9,"unterminated\n\x00\x01\x02,\n')
    proc = build(raw, home)
    assert_failed_cleanly(proc, home, before, "accounts", "accounts_2099-01-01.csv", code=2)


def test_column_full_of_unparseable_dates(home: Path, raw: Path) -> None:
    before = sha256(home)
    for f in (raw / "accounts").glob("*.csv"):
        header, rows = read_csv(f)
        i = header.index("open_date")
        for r in rows:
            r[i] = "someday"
        write_csv(f, header, rows)
    proc = build(raw, home, "--full-refresh")
    kept = assert_failed_cleanly(proc, home, before, "raw gate FAILED", "accounts.open_date",
                                 "someday", code=2)
    _only_the_typing_pass_ran(kept)


def test_file_redelivered_twice_is_counted_as_duplicates(home: Path, raw: Path) -> None:
    before_hash = sha256(home)
    with duckdb.connect(str(home), read_only=True) as con:
        before = {r[0]: r[1:] for r in con.execute(
            "select table_name, raw_rows, loaded_rows, duplicate_rows, rejected_rows "
            "from marts.dq_reconciliation").fetchall()}
    src = raw / "trades" / "trades_2025-11-27.csv"
    n = len(read_csv(src)[1])
    shutil.copy2(src, raw / "trades" / "trades_2025-11-27_resent.csv")
    # A reader that holds the published file open during the whole build.
    reader = duckdb.connect(str(home), read_only=True)
    try:
        proc = build(raw, home)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        assert reader.execute("select count(*) from marts.dq_reconciliation").fetchone()[0] > 0
    finally:
        reader.close()
    assert sha256(home) != before_hash
    assert "report: " in proc.stdout
    with duckdb.connect(str(home), read_only=True) as con:
        after = {r[0]: r[1:] for r in con.execute(
            "select table_name, raw_rows, loaded_rows, duplicate_rows, rejected_rows "
            "from marts.dq_reconciliation").fetchall()}
    raw_b, loaded_b, dup_b, rej_b = before["trades"]
    raw_a, loaded_a, dup_a, rej_a = after["trades"]
    assert raw_a == raw_b + n
    assert loaded_a == loaded_b
    assert dup_a > dup_b
    assert (dup_a - dup_b) + (rej_a - rej_b) == n
    history = (state_dir(home) / "gate_history.jsonl").read_text().splitlines()
    assert json.loads(history[-1])["status"] == "published"


def test_most_trades_are_orphans_fails_marts_gate(home: Path, raw: Path) -> None:
    before = sha256(home)
    write_orphan_trades(raw, "trades_2099-01-01.csv")
    proc = build(raw, home)
    kept = assert_failed_cleanly(proc, home, before, "marts gate FAILED", "dq_reconciliation",
                                 "orphan", code=1)
    assert (kept / "target" / "run_results.json").exists()
    # What the failed build would have published is kept in its folder, readable (the
    # working database moves on with the next build), and shows what failed the gate.
    status = json.loads((kept / "status.json").read_text())
    inspect = kept / "publish" / "kequn.duckdb"
    assert status["inspect_db"] == str(inspect)
    assert "what it built (marts, rules): " + str(inspect) in proc.stderr
    with duckdb.connect(str(inspect), read_only=True) as con:
        orphans = con.execute("select orphan_rows from marts.dq_reconciliation "
                              "where table_name = 'trades'").fetchone()[0]
        assert orphans >= 300
    assert status["database"] == str(working_db(home))


def test_kill_during_dbt_build_leaves_published_warehouse(home: Path, raw: Path) -> None:
    before = sha256(home)
    landing_manifest = (state_dir(home) / "landing" / "_manifest.json").read_bytes()
    src = raw / "trades" / "trades_2025-11-27.csv"
    shutil.copy2(src, raw / "trades" / "trades_2025-11-27_resent.csv")
    env = {**os.environ, "DO_NOT_TRACK": "1", **isolated_env(home.parent)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "kequn.cli", "build", "--raw-dir", str(raw), "--db", str(home)],
        cwd=PROJECT_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 300
        status_path = None
        while time.monotonic() < deadline and proc.poll() is None:
            found = sorted((state_dir(home) / "builds").glob("*/status.json"))
            for f in found:
                try:
                    doc = json.loads(f.read_text())
                except ValueError:
                    continue
                if doc.get("pid") == proc.pid and doc.get("step") == "dbt build":
                    status_path = f
            if status_path:
                break
            time.sleep(0.05)
        assert status_path is not None and proc.poll() is None, "never reached dbt build"
        time.sleep(1.5)    # well inside dbt's run
        assert proc.poll() is None, "build finished before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert sha256(home) == before
    assert (state_dir(home) / "landing" / "_manifest.json").read_bytes() == landing_manifest
    assert json.loads(status_path.read_text())["state"] == "running"   # left for inspection
    with duckdb.connect(str(home), read_only=True) as con:
        assert con.execute("select count(*) from marts.client_segments").fetchone()[0] > 0
    # The next build recovers: it publishes, and the killed build folder is kept.
    again = build(raw, home)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert sha256(home) != before
    assert status_path.parent.is_dir()


# Every stage of a nightly build, in order, and the points inside publishing a nightly
# build passes (the landing manifest's commit last: after it the day is no longer new).
NIGHTLY_KILL_POINTS = ["prepare", "land", "raw gate", "dbt build", "marts gate", "publish",
                       "publish:written", "publish:landing-committed"]
IGNORED_COLUMNS = {"_batch_id", "built_at"}   # landing lineage, build time (test_incremental)
STATEFUL_MARTS = {"client_behaviour_clusters", "behaviour_cluster_profiles",
                  "behaviour_cluster_centroids", "behaviour_cluster_group_crosstab"}


def _new_day(raw: Path) -> None:
    """A nightly delivery: a re-sent trades file and a late cancellation of a filled trade."""
    src = raw / "trades" / "trades_2025-11-27.csv"
    shutil.copy2(src, raw / "trades" / "trades_2025-11-27_resent.csv")
    header, rows = read_csv(src)
    row = next(r for r in rows if r[header.index("status")] == "filled")
    row[header.index("status")] = "cancelled"
    row[header.index("updated_at")] = "2025-11-28 18:00:00"
    write_csv(raw / "trades" / "trades_2025-11-28_late.csv", header, [row])


def _marts_differences(a: Path, b: Path) -> list[str]:
    """Published marts of two warehouses, row for row (EXCEPT ALL both ways)."""
    con = duckdb.connect()
    try:
        con.execute(f"attach '{a}' as a (read_only)")
        con.execute(f"attach '{b}' as b (read_only)")
        tables = [r[0] for r in con.execute(
            "select table_name from duckdb_tables() where database_name = 'a' and "
            "schema_name = 'marts' order by 1").fetchall()]
        assert tables == [r[0] for r in con.execute(
            "select table_name from duckdb_tables() where database_name = 'b' and "
            "schema_name = 'marts' order by 1").fetchall()]
        out = []
        for table in (t for t in tables if t not in STATEFUL_MARTS):
            cols = ", ".join(f'"{r[0]}"' for r in con.execute(
                "select column_name from duckdb_columns() where database_name = 'a' and "
                "schema_name = 'marts' and table_name = ? order by column_index",
                [table]).fetchall() if r[0] not in IGNORED_COLUMNS)
            for x, y in (("a", "b"), ("b", "a")):
                n = con.execute(f'select count(*) from (select {cols} from {x}.marts."{table}" '
                                f'except all select {cols} from {y}.marts."{table}")'
                                ).fetchone()[0]
                if n:
                    out.append(f"{table}: {n} rows only in {x}")
        return out
    finally:
        con.close()


def _build_folders(db: Path) -> set[Path]:
    builds = state_dir(db) / "builds"
    return set(builds.iterdir()) if builds.is_dir() else set()


def test_nightly_build_killed_at_every_stage_then_rebuilt_equals_full(
        home: Path, raw: Path, tmp_path: Path) -> None:
    """kill -9 at each stage of a nightly build (and inside publishing), one after the
    other on the same warehouse: each time the published file is byte-for-byte unchanged
    and readable, the landing manifest is unchanged until its commit, and the killed build
    folder stays. A nightly build then publishes exactly what a full build of the same
    extract publishes: the working database, left half-updated each time, is replayed from
    the committed landing state, not restored from a copy."""
    before = sha256(home)
    manifest = state_dir(home) / "landing" / "_manifest.json"
    committed = manifest.read_bytes()
    _new_day(raw)
    for point in NIGHTLY_KILL_POINTS:
        runs = _build_folders(home)
        proc = kequn("build", "--raw-dir", str(raw), "--db", str(home), check=False,
                     env={**isolated_env(home.parent), KILL_AT: point})
        assert proc.returncode == -signal.SIGKILL, (point, proc.stdout[-3000:],
                                                    proc.stderr[-3000:])
        assert sha256(home) == before, f"killed at {point}: the published file changed"
        with duckdb.connect(str(home), read_only=True) as con:
            assert con.execute("select count(*) from marts.client_segments").fetchone()[0] > 0
        if point != "publish:landing-committed":
            assert manifest.read_bytes() == committed, f"killed at {point}"
        (killed,) = _build_folders(home) - runs
        status = json.loads((killed / "status.json").read_text())
        assert status["state"] == "running" and status["step"] == point.split(":")[0], point
    assert manifest.read_bytes() != committed     # the last kill came after the commit
    again = build(raw, home)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    full = tmp_path / "full" / "kequn.duckdb"
    done = build(raw, full, "--full-refresh")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert not _marts_differences(home, full)
    with duckdb.connect(str(home), read_only=True) as con:
        recon = dict(con.execute("select table_name, duplicate_rows from "
                                 "marts.dq_reconciliation").fetchall())
    assert recon["trades"] > 0, "the re-sent file was not counted"


_FULL_REFRESH_PUBLISH = """
import sys
from pathlib import Path
import duckdb
from kequn import publish
p = publish.paths_for(Path(sys.argv[1]), sys.argv[2])
publish.prepare(p, full_refresh=True)
con = duckdb.connect(str(p.build_db))
con.execute("create schema marts; create table marts.t as select 2 as generation")
con.close()
(p.build_landing / "_manifest.json").write_text('{"batches": 1, "files": {}}')
publish.publish(p, full_refresh=True)
"""


@pytest.mark.parametrize("point", publish.PUBLISH_POINTS)
def test_full_refresh_killed_while_publishing_is_safe(tmp_path: Path, point: str) -> None:
    """A full refresh swaps the working database too: killed between its steps, the
    published file is unchanged and the next build either rebuilds everything (working
    database moved aside, manifest not committed) or starts from a working database that
    matches the committed manifest — never updates one built from another landing."""
    db = tmp_path / "kequn.duckdb"
    p = publish.paths_for(db, "old")
    for path, generation in ((db, 1), (p.working_db, 1)):
        path.parent.mkdir(parents=True, exist_ok=True)
        with duckdb.connect(str(path)) as con:
            con.execute(f"create schema marts; create table marts.t as select {generation} "
                        "as generation")
    p.published_landing.mkdir(parents=True)
    committed = '{"batches": 7, "files": {"trades/a.csv": {"batch_id": 7}}}'
    (p.published_landing / "_manifest.json").write_text(committed)
    before = sha256(db)
    proc = subprocess.run([sys.executable, "-c", _FULL_REFRESH_PUBLISH, str(db), "new"],
                          cwd=PROJECT_DIR, env={**os.environ, KILL_AT: point})
    assert proc.returncode == -signal.SIGKILL
    assert sha256(db) == before
    after = publish.paths_for(db, "next")
    manifest = (p.published_landing / "_manifest.json").read_text()
    # the working database is the one built from the committed manifest, or none at all
    # (then the next build is a full refresh); never one built from another landing
    expected = 1 if manifest == committed else 2
    if p.working_db.exists():
        assert publish.needs_full_refresh(after) is None, point
        with duckdb.connect(str(p.working_db), read_only=True) as con:
            assert con.execute("select generation from marts.t").fetchone()[0] == expected
    else:
        assert publish.needs_full_refresh(after) is not None, point
