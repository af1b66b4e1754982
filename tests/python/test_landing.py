"""Landing, as a new user's deliveries meet it: real files, real `kequn build` runs.

- A warehouse owns its state: two warehouses in one folder never share landing, builds or
  gate history (the state folder of `x.duckdb` is `x.state/`).
- Every file read is in the manifest with a content fingerprint, so a delivered file
  rewritten in place with the same size is refused.
- Every file of a table folder that is not read is named, with the reason; `.csv.gz` is read.
- A header that repeats a column, a NUL byte, a ragged row: refused, naming file (and line).
- A GB18030/GBK CSV is read, and its Chinese values arrive in staging as delivered.
- A mistyped `--raw-dir`, an empty or partial extract: said as such, every missing table
  folder at once, and no build folder left behind.

The checks of one file run through `land()` itself (a second each); the cases that must
reach the warehouse run `kequn build` on a private copy of the hand-written warehouse
(conftest `home`).
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import duckdb
import pytest
from conftest import (
    FIXTURES,
    assert_failed_cleanly,
    build,
    copy_warehouse,
    isolated_env,
    kequn,
    read_csv,
    sha256,
    write_csv,
)

from kequn import PROJECT_DIR
from kequn.contract import raw_tables
from kequn.landing import LandingError, delivered_counts, delivered_relation, land
from kequn.state import state_dir, working_db

HANDWRITTEN = FIXTURES / "handwritten_extract"
SEGMENTS = FIXTURES / "segments_extract"


def _reconciles(db: Path) -> dict[str, tuple[int, ...]]:
    """dq_reconciliation per table; asserts every raw row is loaded, duplicate or rejected."""
    with duckdb.connect(str(db), read_only=True) as con:
        rows = {r[0]: r[1:] for r in con.execute(
            "select table_name, raw_rows, loaded_rows, duplicate_rows, rejected_rows "
            "from marts.dq_reconciliation").fetchall()}
    for table, (raw_rows, loaded, dup, rejected) in rows.items():
        assert raw_rows == loaded + dup + rejected, (table, rows[table])
    return rows


def _extract_rows(raw: Path) -> dict[str, int]:
    """Data rows per table of a CSV and Parquet extract, counted from the files themselves."""
    import pyarrow.parquet as pq

    return {t: sum(len(read_csv(f)[1]) for f in (raw / t).glob("*.csv"))
            + sum(pq.read_metadata(f).num_rows for f in (raw / t).glob("*.parquet"))
            for t in raw_tables()}


# --------------------------------------------------------------------------- state


@pytest.mark.slow
def test_two_warehouses_in_one_folder_keep_their_own_state(tmp_path: Path) -> None:
    """a.duckdb and b.duckdb side by side, built from different extracts: each lands all of
    its own files, reconciles to its own extract, and a's rebuild with no new files (from
    its extract moved elsewhere) passes its gates."""
    folder = tmp_path / "wh"
    raw_a, raw_b = tmp_path / "raw_a", tmp_path / "raw_b"
    shutil.copytree(HANDWRITTEN, raw_a)
    shutil.copytree(SEGMENTS, raw_b)
    a, b = folder / "a.duckdb", folder / "b.duckdb"
    for raw, db in ((raw_a, a), (raw_b, b)):
        proc = build(raw, db)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert state_dir(a) != state_dir(b)
    for raw, db in ((raw_a, a), (raw_b, b)):
        manifest = json.loads((state_dir(db) / "landing" / "_manifest.json").read_text())
        delivered = {p.relative_to(raw).as_posix() for t in raw_tables()
                     for p in (raw / t).iterdir()}
        assert set(manifest["files"]) == delivered, db.name
        recon = _reconciles(db)
        assert {t: r[0] for t, r in recon.items()} == _extract_rows(raw), db.name
        history = (state_dir(db) / "gate_history.jsonl").read_text().splitlines()
        assert len(history) == 1 and json.loads(history[0])["raw_dir"] == str(raw.resolve())
    assert not any((folder / name).exists() for name in ("landing", "builds",
                                                        "gate_history.jsonl"))
    with duckdb.connect(str(working_db(b)), read_only=True) as con:
        clients = {r[0] for r in con.execute(
            "select client_id from staging.stg_brokerage__clients").fetchall()}
    assert clients and all(c.startswith("S") for c in clients), sorted(clients)[:5]

    before = _reconciles(a)
    moved = tmp_path / "elsewhere" / "raw_a"
    moved.parent.mkdir()
    raw_a.rename(moved)
    proc = build(moved, a)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "no new files" in proc.stdout
    assert _reconciles(a) == before


@pytest.mark.slow
def test_a_warehouse_without_its_landing_manifest_is_rebuilt_from_every_file(
        home: Path, raw: Path) -> None:
    """A published warehouse whose state has no landing (built before the state folder, or
    the folder deleted) cannot be appended to: the build says so and rebuilds it all."""
    before = _reconciles(home)
    shutil.rmtree(state_dir(home) / "landing")
    proc = build(raw, home)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "rebuilding from every file" in proc.stdout, proc.stdout[-3000:]
    assert _reconciles(home) == before


@pytest.mark.slow
def test_a_command_that_never_started_leaves_nothing(tmp_path: Path) -> None:
    """A --raw-dir that does not exist is said to be that (not a contract breach); nothing
    is created beside the warehouse, not even its folder."""
    db = tmp_path / "wh" / "kequn.duckdb"
    proc = kequn("build", "--raw-dir", str(tmp_path / "no_such_extract"), "--db", str(db),
                 env=isolated_env(tmp_path), check=False)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "no_such_extract does not exist" in proc.stderr, proc.stderr
    assert "contract" not in proc.stderr, proc.stderr
    assert not (tmp_path / "wh").exists()


@pytest.mark.slow
def test_an_empty_extract_names_every_missing_table_folder(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    db = tmp_path / "wh" / "kequn.duckdb"
    proc = kequn("build", "--raw-dir", str(empty), "--db", str(db),
                 env=isolated_env(tmp_path), check=False)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "holds none of the contract's 9 table folders" in proc.stderr, proc.stderr
    for table in raw_tables():
        assert table in proc.stderr, table
    assert not (tmp_path / "wh").exists()


@pytest.mark.slow
def test_a_partial_extract_names_every_missing_table_folder(home: Path, raw: Path) -> None:
    before = sha256(home)
    gone = ["products", "trades", "app_events"]
    for table in gone:
        shutil.rmtree(raw / table)
    builds = set((state_dir(home) / "builds").glob("*")) if (
        state_dir(home) / "builds").exists() else set()
    proc = build(raw, home)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    line = next(x for x in proc.stderr.splitlines() if "table folders are missing" in x)
    assert "3 of the contract's 9" in line and all(t in line for t in gone), line
    assert sha256(home) == before
    after = set((state_dir(home) / "builds").glob("*")) if (
        state_dir(home) / "builds").exists() else set()
    assert after == builds, "a build that never started left a build folder"


# --------------------------------------------------------------------------- fingerprint


@pytest.mark.slow
def test_a_landed_file_rewritten_in_place_at_the_same_size_is_refused(
        home: Path, raw: Path) -> None:
    """One digit of an amount changed in a file the warehouse has landed: same size, new
    content. The build refuses it naming table and file; the warehouse is unchanged."""
    before = sha256(home)
    path = raw / "trades" / "trades_2025-11-27.csv"
    size = path.stat().st_size
    text = path.read_text(encoding="utf-8")
    assert ",160000," in text
    path.write_text(text.replace(",160000,", ",160001,", 1), encoding="utf-8")
    assert path.stat().st_size == size
    proc = build(raw, home)
    kept = assert_failed_cleanly(proc, home, before, "trades: file trades/trades_2025-11-27.csv",
                                 "rewritten in place", "same size", code=2)
    assert not (kept / "target").exists(), "dbt must not run on a rewritten file"


@pytest.mark.slow
def test_manifest_records_each_file_with_a_fingerprint(handwritten_build: Path) -> None:
    """The published manifest: every file with its size, fingerprint, format, encoding,
    batch and the rows its base model read (counted by the build, not by landing)."""
    manifest = json.loads((state_dir(handwritten_build) / "landing" / "_manifest.json")
                          .read_text())
    for rel, entry in manifest["files"].items():
        path = HANDWRITTEN / rel
        assert entry["size"] == path.stat().st_size
        assert entry["fingerprint"] == "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
        parquet = rel.endswith(".parquet")
        assert entry["batch_id"] == 1 and entry["format"] == ("parquet" if parquet else "csv")
        assert entry["encoding"] == (None if parquet else "utf-8")
    rows = {t: sum(e["rows"] for r, e in manifest["files"].items() if r.startswith(t + "/"))
            for t in raw_tables()}
    assert rows == _extract_rows(HANDWRITTEN)
    with duckdb.connect(str(handwritten_build), read_only=True) as con:
        raw_rows = dict(con.execute(
            "select table_name, raw_rows from marts.dq_reconciliation").fetchall())
    assert raw_rows == rows


def test_landing_copies_nothing_and_lists_each_file_to_read(tmp_path: Path) -> None:
    """Landing writes only its manifest and the list of files to read: no data file, and
    the rows read in place through that list are the extract's."""
    land(HANDWRITTEN, tmp_path / "landing", progress=False)
    written = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")
                     if p.is_file())
    assert written == ["batch_attempts.jsonl", "landing/_delivered.jsonl",
                       "landing/_manifest.json"], written
    assert delivered_counts(tmp_path / "landing") == _extract_rows(HANDWRITTEN)
    manifest = json.loads((tmp_path / "landing" / "_manifest.json").read_text())
    for rel, entry in manifest["files"].items():
        assert entry["rows"] == (None if entry["format"] != "parquet"
                                 else _extract_rows_of(HANDWRITTEN / rel)), rel


def _extract_rows_of(path: Path) -> int:
    import pyarrow.parquet as pq

    return pq.read_metadata(path).num_rows


def test_a_batch_id_is_never_reused(tmp_path: Path) -> None:
    """A landing whose build never published (failed, or killed) keeps its batch id: the
    next landing of the same files takes the next one, as every allocation is recorded."""
    raw = tmp_path / "raw"
    shutil.copytree(HANDWRITTEN, raw)
    attempts = tmp_path / "state" / "batch_attempts.jsonl"
    first = land(raw, tmp_path / "build1" / "landing", attempts=attempts, progress=False)
    # build 1 failed: its landing folder (and manifest) is never committed
    again = land(raw, tmp_path / "build2" / "landing", attempts=attempts, progress=False)
    assert (first.batch_id, again.batch_id) == (1, 2)
    assert [json.loads(x)["batch_id"] for x in attempts.read_text().splitlines()] == [1, 2]
    # a landing with no new file allocates nothing
    shutil.copytree(tmp_path / "build2" / "landing", tmp_path / "build3" / "landing")
    none_new = land(raw, tmp_path / "build3" / "landing", attempts=attempts, progress=False)
    assert none_new.files_new == 0 and len(attempts.read_text().splitlines()) == 2


def test_a_copied_extract_is_not_a_rewrite(tmp_path: Path) -> None:
    """A copy that does not keep file times (cp without -p) is checked by fingerprint and
    passes; the new times are recorded so the next run need not hash again."""
    raw = tmp_path / "raw"
    shutil.copytree(HANDWRITTEN, raw)
    land(raw, tmp_path / "landing", progress=False)
    moved = tmp_path / "moved"
    shutil.copytree(raw, moved, copy_function=shutil.copyfile)
    again = land(moved, tmp_path / "landing", progress=False)
    assert again.files_new == 0
    manifest = json.loads((tmp_path / "landing" / "_manifest.json").read_text())
    for rel, entry in manifest["files"].items():
        assert entry["mtime_ns"] == (moved / rel).stat().st_mtime_ns


# --------------------------------------------------------------------------- refusals


@pytest.fixture
def extract(tmp_path: Path) -> Path:
    out = tmp_path / "raw"
    shutil.copytree(HANDWRITTEN, out)
    return out


def _refusal(extract: Path, tmp_path: Path) -> str:
    with pytest.raises(LandingError) as info:
        land(extract, tmp_path / "landing", progress=False)
    assert not (tmp_path / "landing" / "_manifest.json").exists(), "nothing may be landed"
    return str(info.value)


@pytest.mark.parametrize("second", ["account_id", " Account_ID "])
def test_a_header_that_repeats_a_column_is_refused(extract: Path, tmp_path: Path,
                                                   second: str) -> None:
    header, rows = read_csv(extract / "accounts" / "accounts_2025-11-01.csv")
    write_csv(extract / "accounts" / "accounts_2099-01-01.csv", [*header, second],
              [[*r, "A_OTHER"] for r in rows])
    msg = _refusal(extract, tmp_path)
    assert "accounts: file accounts/accounts_2099-01-01.csv" in msg, msg
    assert "column account_id appears 2 times" in msg, msg


def test_a_parquet_header_that_repeats_a_column_is_refused(extract: Path,
                                                           tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    header, rows = read_csv(extract / "accounts" / "accounts_2025-11-01.csv")
    cols = [pa.array([r[i] for r in rows]) for i in range(len(header))]
    pq.write_table(pa.table([*cols, cols[0]], names=[*header, "ACCOUNT_ID"]),
                   extract / "accounts" / "accounts_2099-01-01.parquet")
    msg = _refusal(extract, tmp_path)
    assert "file accounts/accounts_2099-01-01.parquet" in msg and "account_id" in msg, msg


def test_a_nul_byte_is_refused_naming_file_and_line(extract: Path, tmp_path: Path) -> None:
    header, rows = read_csv(extract / "trades" / "trades_2025-11-27.csv")
    rows[1][header.index("channel")] = "app\x00"
    write_csv(extract / "trades" / "trades_2099-01-01.csv", header, rows)
    msg = _refusal(extract, tmp_path)
    assert "trades: file trades/trades_2099-01-01.csv line 3" in msg, msg
    assert "NUL byte" in msg, msg


@pytest.mark.slow
@pytest.mark.parametrize(("extra", "found"), [(["x"], "13"), (None, "11")])
def test_a_ragged_row_is_refused_naming_file_and_line(home: Path, raw: Path,
                                                      extra: list[str] | None,
                                                      found: str) -> None:
    """Rows are read once, in place, by DuckDB's strict CSV reader: a ragged row fails the
    build as a contract breach naming table, file, line and field counts; the published
    warehouse is unchanged."""
    before = sha256(home)
    header, rows = read_csv(raw / "trades" / "trades_2025-11-27.csv")
    rows[4] = rows[4] + extra if extra else rows[4][:-1]
    write_csv(raw / "trades" / "trades_2099-01-01.csv", header, rows)
    proc = build(raw, home)
    assert_failed_cleanly(proc, home, before, "trades: file trades/trades_2099-01-01.csv line 6",
                          f"has {found} fields where its header has 12", code=2)


def test_a_file_in_neither_utf8_nor_gb18030_is_refused(extract: Path,
                                                       tmp_path: Path) -> None:
    header, rows = read_csv(extract / "trades" / "trades_2025-11-27.csv")
    path = extract / "trades" / "trades_2099-01-01.csv"
    write_csv(path, header, rows)
    path.write_bytes(path.read_bytes() + b"T999,A001,600519.SH,\xff\xff\n")
    msg = _refusal(extract, tmp_path)
    assert "trades: file trades/trades_2099-01-01.csv is not UTF-8" in msg, msg


# --------------------------------------------------------------------------- what is read

GBK_CLIENT = "CGBK01"
GBK_TRADE = "TGBK01"


def _odd_but_valid_delivery(raw: Path) -> dict[str, int]:
    """A nightly delivery of files the contract allows but a naive reader gets wrong."""
    header, rows = read_csv(raw / "trades" / "trades_2025-11-27.csv")
    i_id, i_side = header.index("trade_id"), header.index("side")
    gz = [[f"TGZ{k:03d}", *r[1:]] for k, r in enumerate(rows)]
    with gzip.open(raw / "trades" / "trades_2099-01-01.csv.gz", "wt", encoding="utf-8",
                   newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(gz)
    gbk_trade = list(rows[0])
    gbk_trade[i_id], gbk_trade[i_side] = GBK_TRADE, "买入"
    write_csv(raw / "trades" / "trades_2099-01-02_gbk.csv", header, [gbk_trade],
              encoding="gbk")
    (raw / "trades" / "notes.txt").write_text("delivery notes, not data\n", encoding="utf-8")
    (raw / "trades" / ".DS_Store").write_bytes(b"\x00\x01")
    cheader, crows = read_csv(raw / "clients" / "clients_2025-11-01.csv")
    client = dict(zip(cheader, crows[0], strict=True))
    client.update(client_id=GBK_CLIENT, occupation="学生", job_title="总经理",
                  employer_name="华为技术有限公司", city="深圳",
                  updated_at="2025-11-20 09:00:00")
    write_csv(raw / "clients" / "clients_2099-01-02_gbk.csv", cheader,
              [[client[c] for c in cheader]], encoding="gb18030")
    return {"trades": len(gz) + 1, "clients": 1}


def test_gzip_and_gbk_files_land_and_others_are_named(extract: Path, tmp_path: Path) -> None:
    added = _odd_but_valid_delivery(extract)
    report = land(extract, tmp_path / "landing", progress=False)
    trades = report.tables["trades"]
    assert dict(trades.ignored_files) == {
        "trades/.DS_Store": "hidden file",
        "trades/notes.txt": "not a data file (the contract's files are "
                            "*.csv, *.csv.gz, *.parquet)"}
    lines = "\n".join(report.lines())
    assert "not read: trades/notes.txt (not a data file" in lines, lines
    assert "read as GB18030 (not UTF-8): clients/clients_2099-01-02_gbk.csv" in lines, lines
    manifest = json.loads((tmp_path / "landing" / "_manifest.json").read_text())["files"]
    assert manifest["trades/trades_2099-01-01.csv.gz"]["format"] == "csv.gz"
    assert manifest["clients/clients_2099-01-02_gbk.csv"]["encoding"] == "gb18030"
    counts = delivered_counts(tmp_path / "landing")
    assert counts["trades"] == _extract_rows(HANDWRITTEN)["trades"] + added["trades"]
    assert counts["clients"] == _extract_rows(HANDWRITTEN)["clients"] + added["clients"]
    con = duckdb.connect()
    gz = con.execute(
        f"select count(*) from {delivered_relation(tmp_path / 'landing', 'trades')} "
        "where _source_file = 'trades/trades_2099-01-01.csv.gz'").fetchone()[0]
    assert gz == added["trades"] - 1
    # read in place from a UTF-8 transcode beside the landing folder (a build removes it)
    got = con.execute(
        "select occupation, job_title, employer_name, city, _source_file, _row_in_file "
        f"from {delivered_relation(tmp_path / 'landing', 'clients')} where client_id = ?",
        [GBK_CLIENT]).fetchall()
    assert got == [("学生", "总经理", "华为技术有限公司", "深圳",
                    "clients/clients_2099-01-02_gbk.csv", 1)]
    assert report.transcoded is not None and len(list(report.transcoded.iterdir())) == 2


@pytest.fixture(scope="module")
def odd_delivery_build(handwritten_build: Path, tmp_path_factory) -> dict:
    """A nightly build of the hand-written warehouse with a gzip CSV, GB18030/GBK CSVs and
    two files that are not data."""
    tmp = tmp_path_factory.mktemp("odd")
    db = copy_warehouse(handwritten_build, tmp / "wh")
    raw = tmp / "raw"
    shutil.copytree(HANDWRITTEN, raw)
    added = _odd_but_valid_delivery(raw)
    with duckdb.connect(str(db), read_only=True) as con:
        before = {r[0]: r[1] for r in con.execute(
            "select table_name, raw_rows from marts.dq_reconciliation").fetchall()}
    proc: subprocess.CompletedProcess = kequn("build", "--raw-dir", str(raw), "--db", str(db),
                                              env=isolated_env(tmp))
    return {"db": db, "proc": proc, "added": added, "before": before}


@pytest.mark.slow
def test_a_gzip_csv_lands_and_reconciles(odd_delivery_build: dict) -> None:
    db, added, before = (odd_delivery_build[k] for k in ("db", "added", "before"))
    after = _reconciles(db)
    assert after["trades"][0] == before["trades"] + added["trades"]
    assert after["clients"][0] == before["clients"] + added["clients"]
    with duckdb.connect(str(working_db(db)), read_only=True) as con:
        n = con.execute("select count(*) from staging.stg_brokerage__trades "
                        "where _source_file = 'trades/trades_2099-01-01.csv.gz'").fetchone()[0]
    assert n > 0


@pytest.mark.slow
def test_chinese_values_of_a_gbk_file_arrive_in_staging(odd_delivery_build: dict) -> None:
    with duckdb.connect(str(working_db(odd_delivery_build["db"])), read_only=True) as con:
        client = con.execute(
            "select occupation, job_title, employer_name, city "
            "from staging.stg_brokerage__clients where client_id = ?", [GBK_CLIENT]).fetchall()
        side = con.execute("select side from staging.stg_brokerage__trades where trade_id = ?",
                           [GBK_TRADE]).fetchall()
    assert client == [("student", "总经理", "华为技术有限公司", "深圳")]
    assert side == [("buy",)]


@pytest.mark.slow
def test_files_not_read_are_named_on_the_console_and_in_the_report(
        odd_delivery_build: dict) -> None:
    proc = odd_delivery_build["proc"]
    assert "not read: trades/notes.txt (not a data file" in proc.stdout, proc.stdout[-3000:]
    assert "not read: trades/.DS_Store (hidden file)" in proc.stdout
    report = next(line.split(": ", 1)[1] for line in proc.stdout.splitlines()
                  if line.startswith("report: "))
    html = Path(report).read_text(encoding="utf-8")
    assert "Files in the extract not read" in html
    assert "trades/notes.txt" in html and "not a data file" in html
    assert "clients/clients_2099-01-02_gbk.csv" in html and "gb18030" in html


# --------------------------------------------------------------------------- PII


def _fixture_pii(raw: Path) -> set[str]:
    """Every name, ID number and phone the extract delivers (CSV and Parquet clients)."""
    import pyarrow.parquet as pq

    values: set[str] = set()
    for path in sorted((raw / "clients").iterdir()):
        if path.suffix == ".parquet":
            table = pq.read_table(path).to_pydict()
            rows = [dict(zip(table, r, strict=True)) for r in zip(*table.values(), strict=True)]
        elif path.suffix == ".csv":
            encoding = "gb18030" if "gbk" in path.name else "utf-8"
            with path.open(newline="", encoding=encoding) as fh:
                rows = list(csv.DictReader(fh))
        else:
            continue
        values |= {str(r[c]).strip() for r in rows for c in ("name", "id_number", "phone")
                   if r.get(c) and len(str(r[c]).strip()) >= 4}
    return values


def _files_holding(folder: Path, values: set[str]) -> list[str]:
    """Files under `folder` whose bytes (UTF-8 or GB18030, gzip opened) hold any value; a
    DuckDB file is asked through SQL for every text column of every table."""
    needles = [v.encode(e) for v in values for e in ("utf-8", "gb18030")]
    hits = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        data = path.read_bytes()
        if path.suffix == ".gz":
            data = gzip.decompress(data)
        found = [n for n in needles if n in data]
        if path.suffix == ".duckdb" and not path.name.endswith(".wal"):
            with duckdb.connect(str(path), read_only=True) as con:
                cols = con.execute(
                    "select table_schema, table_name, column_name from information_schema.columns "
                    "where data_type = 'VARCHAR'").fetchall()
                for schema, table, column in cols:
                    q = (f'select count(*) from "{schema}"."{table}" '
                         f'where "{column}" in (select unnest(?))')
                    if con.execute(q, [sorted(values)]).fetchone()[0]:
                        found.append(f"{schema}.{table}.{column}".encode())
        if found:
            hits.append(f"{path.relative_to(folder)}: {found[:3]}")
    return hits


@pytest.mark.slow
def test_no_file_a_build_leaves_behind_holds_pii(odd_delivery_build: dict,
                                                tmp_path: Path) -> None:
    """PII lives only in the delivered files: no file of the warehouse's state folder (the
    manifest, the list of files to read, build folders with their dbt artefacts, GX results,
    report) nor the warehouse itself holds a raw name, ID number or phone — also after a
    build that read GB18030 files through a transcode, which is gone."""
    db = odd_delivery_build["db"]
    assert odd_delivery_build["proc"].returncode == 0
    raw = tmp_path / "raw"
    shutil.copytree(HANDWRITTEN, raw)
    _odd_but_valid_delivery(raw)
    pii = _fixture_pii(raw)
    assert {"Fakename Alpha", "测试客户乙"} <= pii, sorted(pii)[:10]
    # a dbt unit test's input (models/**/*.yml) reuses one fixture ID number: it is the
    # project's own test data, in dbt's manifest of every build, not a copy of the delivery
    own = "".join(p.read_text(encoding="utf-8") for p in (PROJECT_DIR / "models").rglob("*.yml"))
    pii = {v for v in pii if v not in own}
    state = state_dir(db)
    assert not list(state.glob("builds/*/transcoded")), "a transcode outlived its build"
    assert _files_holding(state, pii) == []
    assert _files_holding(db.parent, pii) == []
    # the check finds PII where it is: in the delivery
    assert _files_holding(raw / "clients", pii)


@pytest.mark.slow
def test_a_failed_build_removes_its_transcodes(home: Path, raw: Path) -> None:
    """The UTF-8 transcode of a GB18030 file is removed when the build ends, failed too."""
    _odd_but_valid_delivery(raw)
    header, rows = read_csv(raw / "trades" / "trades_2025-11-27.csv")
    rows[2] = rows[2][:-1]
    write_csv(raw / "trades" / "trades_2099-02-01.csv", header, rows)
    before = sha256(home)
    proc = build(raw, home)
    kept = assert_failed_cleanly(proc, home, before, "trades: file trades/trades_2099-02-01.csv",
                                 "line 4", code=2)
    assert not (kept / "transcoded").exists()
    own = "".join(p.read_text(encoding="utf-8") for p in (PROJECT_DIR / "models").rglob("*.yml"))
    assert _files_holding(state_dir(home), {v for v in _fixture_pii(raw) if v not in own}) == []
