"""The GX gates on their own: suites in sync with their specs, findings that name table,
column and offending values, the PII scan, publishing mechanics and the offline report.

These run the real checkpoints on real (small) DuckDB data. The raw gate judges the typing
pass's counts, so its cases run dbt's first phase (seeds and base models) on the fixture —
a few dbt runs, shared by module-scoped fixtures; the rest run without dbt.
"""

from __future__ import annotations

import csv
import filecmp
import json
import os
import shutil
from pathlib import Path

import duckdb
import pytest

from kequn import gates, gx_suites, publish, report
from kequn.build import _release_dbt_database
from kequn.dbt import dbt_env, run_dbt
from kequn.landing import delivered_counts, land
from kequn.state import state_dir

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "handwritten_extract"


def _rewrite_csv_column(folder: Path, column: str, value: str) -> None:
    for f in folder.glob("*.csv"):
        with f.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
        i = rows[0].index(column)
        for r in rows[1:]:
            r[i] = value
        with f.open("w", newline="", encoding="utf-8") as fh:
            csv.writer(fh).writerows(rows)


@pytest.fixture
def extract(tmp_path: Path) -> Path:
    out = tmp_path / "raw"
    shutil.copytree(FIXTURE, out)
    return out


def _typed(raw: Path, tmp: Path) -> tuple[Path, object]:
    """Land `raw` into tmp and run dbt's first phase (the typing pass) into tmp's warehouse
    (incrementally when it exists); returns (database, landing result)."""
    landing = land(raw, tmp / "landing", progress=False)
    db = tmp / "kequn.duckdb"
    with dbt_env(db, tmp / "landing"):
        run_dbt(["build", "--select", gates.BEFORE_RAW_GATE], target_path=tmp / "target",
                log_path=tmp / "logs", echo=False)
    _release_dbt_database()
    return db, landing


@pytest.fixture(scope="module")
def clean_typed(tmp_path_factory) -> tuple[Path, Path]:
    """The fixture extract, typed: (its copy, its work folder)."""
    tmp = tmp_path_factory.mktemp("clean")
    raw = tmp / "raw"
    shutil.copytree(FIXTURE, raw)
    _typed(raw, tmp)
    return raw, tmp


@pytest.fixture(scope="module")
def dirty_db(tmp_path_factory) -> Path:
    """The fixture extract with three breaches, typed: every accounts.open_date is
    'someday', every accounts.account_type 'sideways', fx_rates has no file."""
    tmp = tmp_path_factory.mktemp("dirty")
    raw = tmp / "raw"
    shutil.copytree(FIXTURE, raw)
    _rewrite_csv_column(raw / "accounts", "open_date", "someday")
    _rewrite_csv_column(raw / "accounts", "account_type", "sideways")
    for f in (raw / "fx_rates").iterdir():
        f.unlink()
    return _typed(raw, tmp)[0]


def _raw_gate(db: Path, tmp: Path, **overrides: float) -> gates.GateResult:
    return gates.run_raw_gate(db, tmp / "work", gates.load_thresholds(overrides))


def test_committed_suites_match_their_specs(tmp_path: Path) -> None:
    """`python -m kequn.gates sync` on the committed files changes nothing."""
    shutil.copytree(gates.GX_DIR, tmp_path / "gx", ignore=shutil.ignore_patterns("uncommitted"))
    gates.sync(tmp_path)
    committed = {p.relative_to(gates.GX_DIR) for p in gates.GX_DIR.rglob("*.json")
                 if "uncommitted" not in p.parts}
    synced = {p.relative_to(tmp_path / "gx") for p in (tmp_path / "gx").rglob("*.json")
              if "uncommitted" not in p.parts}
    assert committed == synced
    changed = [str(p) for p in sorted(committed)
               if not filecmp.cmp(gates.GX_DIR / p, tmp_path / "gx" / p, shallow=False)]
    assert not changed, f"run `python -m kequn.gates sync` and commit: {changed}"
    assert (gates.GX_DIR / "great_expectations.yml").read_text() == (
        tmp_path / "gx" / "great_expectations.yml").read_text()


def test_every_raw_table_has_a_suite_and_every_mart_one_too() -> None:
    suites = {p.relative_to(gates.GX_DIR / "expectations").with_suffix("").as_posix()
              for p in (gates.GX_DIR / "expectations").rglob("*.json")}
    assert {f"raw/{t}" for t in gates.RAW_SPEC} <= suites
    assert {f"marts/{m}" for m in gates.PUBLIC_MARTS} <= suites
    assert {"marts/warehouse_columns", "marts/pii_value_hits"} <= suites


def test_raw_gate_passes_on_the_handwritten_extract(clean_typed: tuple[Path, Path],
                                                    tmp_path: Path) -> None:
    gate = _raw_gate(clean_typed[1] / "kequn.duckdb", tmp_path)
    assert gate.success, "\n".join(gate.lines())
    assert gate.evaluated >= 9 * 4


def test_raw_gate_names_table_column_and_offending_values(dirty_db: Path,
                                                          tmp_path: Path) -> None:
    gate = _raw_gate(dirty_db, tmp_path)
    assert not gate.success
    (finding,) = [f for f in gate.findings if f.asset == "accounts" and "parse" in f.description]
    assert finding.column == "open_date"
    assert finding.expectation == "unexpected_rows_expectation"
    assert "someday" in finding.line()
    assert "accounts.open_date" in finding.line()


def test_unknown_codes_over_the_limit_fail_but_a_few_do_not(dirty_db: Path,
                                                           tmp_path: Path) -> None:
    gate = _raw_gate(dirty_db, tmp_path / "a")
    assert not gate.success
    bad = [f for f in gate.findings if f.column == "account_type"]
    assert bad and "sideways" in bad[0].line() and bad[0].asset == "accounts"
    # The same rate with a tolerance of 100 % passes: the limit really is the limit.
    gate = _raw_gate(dirty_db, tmp_path / "b", max_unknown_code_share=1.0)
    assert not [f for f in gate.findings if f.column == "account_type"]


def test_empty_table_fails_the_row_count_expectation(dirty_db: Path, tmp_path: Path) -> None:
    gate = _raw_gate(dirty_db, tmp_path)
    bad = [f for f in gate.findings if f.asset == "fx_rates"]
    assert [f.description for f in bad] == [
        "raw fx_rates: row count within bounds (thresholds.yml row_bounds)"]
    assert bad[0].sample == [{"batch_rows": 0, "min_rows": 1.0, "max_rows": None}]


def test_raw_gate_reads_only_the_typing_pass_output(clean_typed: tuple[Path, Path],
                                                    tmp_path: Path) -> None:
    """The gate needs no landed or raw file: it judges the base models' counts, and a
    contract column the typing pass does not carry fails the presence expectation."""
    db = tmp_path / "copy.duckdb"
    shutil.copy2(clean_typed[1] / "kequn.duckdb", db)
    with duckdb.connect(str(db)) as con:
        con.execute("alter table staging.base_brokerage__trades drop column fee_raw")
    gate = _raw_gate(db, tmp_path)
    found = {(f.asset, f.column) for f in gate.findings}
    assert found == {("trades", "fee")}, "\n".join(gate.lines())
    assert "read and typed" in gate.findings[0].description


def test_every_checked_column_is_typed_by_its_base_model(clean_typed: tuple[Path, Path]
                                                         ) -> None:
    """RAW_SPEC's typed columns (and `<column>_raw`) exist in the base models dbt builds."""
    with duckdb.connect(str(clean_typed[1] / "kequn.duckdb"), read_only=True) as con:
        for table in gates.RAW_SPEC:
            cols = {r[0] for r in con.execute(
                "select column_name from information_schema.columns where table_name = ?",
                [gates.base_model(table)]).fetchall()}
            for column, _ in gx_suites.checked_columns(table):
                assert {f"{column}_raw", gx_suites.typed_column(table, column)} <= cols, (
                    table, column)


def _fake_warehouse(path: Path, *, pii: bool) -> Path:
    con = duckdb.connect(str(path))
    con.execute("create schema marts")
    con.execute("create schema staging")
    con.execute("create table marts.dq_reconciliation as select 'trades' as table_name, "
                "10::bigint as raw_rows, 7::bigint as loaded_rows, 2::bigint as duplicate_rows,"
                " 1::bigint as rejected_rows, 0::bigint as orphan_rows")
    con.execute("create table staging.notes as select 'C001' as client_id, "
                + ("'call 13812345678' as memo, '11010519491231002X' as ref"
                   if pii else "'nothing' as memo, 'T2025112400000001' as ref"))
    if pii:
        con.execute("create table staging.contacts as select 'C001' as client_id, "
                    "'13812345678' as phone")
    con.close()
    return path


def test_pii_scan_finds_resident_ids_mobiles_and_pii_columns(tmp_path: Path) -> None:
    db = _fake_warehouse(tmp_path / "pii.duckdb", pii=True)
    gate = gates.run_marts_gate(db, tmp_path / "work", gates.load_thresholds(), {"trades": 10})
    assert not gate.success
    hits = [h for f in gate.findings if f.asset == "pii_value_hits" for h in f.sample]
    found = {(h["table_name"], h["column_name"], h["pattern"]) for h in hits}
    assert ("notes", "ref", "resident_id_18") in found
    assert ("contacts", "phone", "mobile_11") in found
    # The value inside free text is not a whole-value match; the report never shows PII.
    assert ("notes", "memo", "mobile_11") not in found
    text = json.dumps([f.line() for f in gate.findings], ensure_ascii=False)
    assert "13812345678" not in text and "11010519491231002X" not in text
    names = [h for f in gate.findings if f.asset == "warehouse_columns" for h in f.sample]
    assert [(n["table_name"], n["column_name"]) for n in names] == [("contacts", "phone")]
    # Missing public marts are reported as such.
    assert "client_segments" in (gate.error or "")


def test_nightly_pii_scan_reads_new_batches_of_lineage_tables_and_all_of_the_rest(
        tmp_path: Path) -> None:
    """since_batch: a table with _batch_id is scanned from that batch on, any other whole."""
    db = _fake_warehouse(tmp_path / "w.duckdb", pii=False)
    con = duckdb.connect(str(db))
    con.execute("create table staging.events as select * from (values "
                "('13812345678', 1), ('13912345678', 3)) as t (memo, _batch_id)")
    con.execute("create table marts.flat as select '13712345678' as memo")
    con.close()

    def hits(since: int | None) -> set[tuple[str, str]]:
        gate = gates.run_marts_gate(db, tmp_path / f"w{since}", gates.load_thresholds(),
                                    {"trades": 10}, since_batch=since)
        return {(h["table_name"], h["sample_value"]) for f in gate.findings
                if f.asset == "pii_value_hits" for h in f.sample}

    assert hits(None) == {("events", "138******78"), ("flat", "137******78")}
    # batch 1 was published (and scanned) before; batch 3's row and the table without
    # lineage are scanned again
    assert hits(2) == {("events", "139******78"), ("flat", "137******78")}
    assert hits(4) == {("flat", "137******78")}


def test_pii_scan_counts_every_hit_of_a_table_whatever_row_or_column(tmp_path: Path) -> None:
    """The scan reads only the rows where some value has an ID's or a mobile's shape (its
    filter), then judges each column: a hit in one column is counted even when another
    column of the row, or the other rows, hold nothing; padded values are trimmed; digits
    of the right length that are neither pattern are no hit."""
    db = _fake_warehouse(tmp_path / "rows.duckdb", pii=False)
    con = duckdb.connect(str(db))
    con.execute("create table staging.mixed as select * from (values "
                "('  13812345678 ', 'none', 'a'), ('12345678901234', '110105194912310021', 'b'), "
                "('plain', 'text', '+8613912345678'), ('23812345678', 'x', 'y')) "
                "as t (c1, c2, c3)")
    con.close()
    gate = gates.run_marts_gate(db, tmp_path / "work", gates.load_thresholds(), {"trades": 10})
    hits = {(h["column_name"], h["pattern"], h["hits"]) for f in gate.findings
            if f.asset == "pii_value_hits" for h in f.sample if h["table_name"] == "mixed"}
    assert hits == {("c1", "mobile_11", 1), ("c2", "resident_id_18", 1),
                    ("c3", "mobile_11", 1)}


def test_pii_scan_is_quiet_on_clean_data(tmp_path: Path) -> None:
    db = _fake_warehouse(tmp_path / "clean.duckdb", pii=False)
    gate = gates.run_marts_gate(db, tmp_path / "work", gates.load_thresholds(), {"trades": 10})
    assets = {f.asset for f in gate.findings}
    assert "pii_value_hits" not in assets and "warehouse_columns" not in assets
    # dq_reconciliation identity holds and raw_rows equals the landed count.
    recon = [r for r in gate.results if r["asset"] == "dq_reconciliation"
             and "identity" in r["description"]]
    assert recon and recon[0]["success"]


def test_reconciliation_against_landing_counts_fails_on_mismatch(tmp_path: Path) -> None:
    db = _fake_warehouse(tmp_path / "w.duckdb", pii=False)
    gate = gates.run_marts_gate(db, tmp_path / "work", gates.load_thresholds(), {"trades": 11})
    bad = [f for f in gate.findings if "landing manifest" in f.description]
    assert bad and bad[0].sample[0]["landed_rows"] == 11


def _paths(tmp: Path) -> publish.BuildPaths:
    db = tmp / "kequn.duckdb"
    return publish.paths_for(db, publish.new_run_id())


def test_publish_refuses_while_a_writer_holds_the_published_file(tmp_path: Path) -> None:
    p = _paths(tmp_path)
    duckdb.connect(str(p.published_db)).close()
    before = p.published_db.read_bytes()
    p.published_db.with_name(p.published_db.name + ".wal").write_bytes(b"x")
    publish.prepare(p, full_refresh=True)
    with pytest.raises(publish.PublishError, match="wal"):
        publish.publish(p, full_refresh=True)
    assert p.published_db.read_bytes() == before


def test_publish_updates_in_place_and_publishes_marts_only(tmp_path: Path) -> None:
    """A nightly build writes into the working database (no copy); the published file gets
    its marts and rules schemas as plain tables (views materialised), nothing else."""
    p = _paths(tmp_path)
    (p.published_landing / "trades").mkdir(parents=True)
    (p.published_landing / "trades" / "batch_00001.parquet").write_bytes(b"old")
    (p.published_landing / "_manifest.json").write_text(
        '{"batches": 1, "files": {"trades/a.csv": {"batch_id": 1}}}')
    p.working_db.parent.mkdir(parents=True)
    con = duckdb.connect(str(p.working_db))
    con.execute("create schema marts; create schema staging; create schema rules")
    con.execute("create table marts.t as select 1 as v")
    con.execute("create view marts.v as select v * 10 as w from marts.t")
    con.execute("create table rules.r as select 'x' as code")
    con.execute("create table staging.s as select 1 as v")
    con.close()
    assert publish.needs_full_refresh(p) is None
    assert publish.committed_batch(p) == 1
    publish.prepare(p, full_refresh=False)
    assert p.build_db == p.working_db
    assert (p.build_landing / "trades" / "batch_00001.parquet").stat().st_ino == (
        p.published_landing / "trades" / "batch_00001.parquet").stat().st_ino
    (p.build_landing / "trades" / "batch_00002.parquet").write_bytes(b"new")
    (p.build_landing / "_manifest.json").write_text('{"batches": 2}')
    con = duckdb.connect(str(p.build_db))
    con.execute("insert into marts.t values (2)")
    con.close()
    publish.publish(p, full_refresh=False)
    with duckdb.connect(str(p.published_db), read_only=True) as con:
        assert con.execute("select count(*) from marts.t").fetchone()[0] == 2
        assert con.execute("select sum(w) from marts.v").fetchone()[0] == 30
        assert con.execute("select schema_name, table_name from duckdb_tables() "
                           "order by 1, 2").fetchall() == [
            ("marts", "t"), ("marts", "v"), ("rules", "r")]
    assert p.working_db.exists()
    assert (p.published_landing / "trades" / "batch_00002.parquet").read_bytes() == b"new"
    assert json.loads((p.published_landing / "_manifest.json").read_text())["batches"] == 2


def test_cleanup_keeps_the_newest_builds_and_running_ones(tmp_path: Path) -> None:
    builds = tmp_path / "builds"
    for i, state in enumerate(["published"] * 5 + ["failed"] * 3):
        d = builds / f"2026010{i}T000000Z-{i:06d}"
        d.mkdir(parents=True)
        (d / "status.json").write_text(json.dumps({"state": state, "pid": -1}))
    live = builds / "20270101T000000Z-live00"
    live.mkdir()
    (live / "status.json").write_text(json.dumps({"state": "running", "pid": os.getppid()}))
    removed = publish.cleanup(tmp_path, keep_published=2, keep_failed=1)
    left = sorted(d.name for d in builds.iterdir())
    assert len(removed) == 3 + 2
    assert live.name in left
    assert len(left) == 2 + 1 + 1


def test_report_is_self_contained_and_names_the_failure(tmp_path: Path) -> None:
    run = {
        "run_id": "r1", "status": "failed", "failed_step": "raw gate", "seconds": 3.0,
        "error": "raw gate failed", "steps": [{"name": "land", "seconds": 1.0, "status": "ok",
                                               "detail": ""}],
        "gates": {"raw": {"success": False, "seconds": 1.0, "evaluated": 2, "failed": 1,
                          "error": None, "data_docs": None,
                          "findings": [{"asset": "accounts", "column": "open_date",
                                        "expectation": "unexpected_rows_expectation",
                                        "description": "dates parse", "observed": 1,
                                        "sample": [{"offending_value": "someday"}],
                                        "line": "accounts.open_date failed"}],
                          "results": []}},
    }
    history = tmp_path / "h.jsonl"
    report.append_history(history, run)
    out = report.write_report(tmp_path / "r.html", run, report.read_history(history))
    html = out.read_text()
    assert "FAILED at raw gate" in html and "someday" in html and "open_date" in html
    assert "http://" not in html and "https://" not in html and "<script" not in html
    assert len(report.read_history(history)) == 1


def test_offline_data_docs_drops_cdn_assets(tmp_path: Path) -> None:
    page = tmp_path / "index.html"
    page.write_text('<html><head><link href="https://cdn.example/b.css" rel="stylesheet">'
                    '<script src="https://cdn.example/j.js"></script></head><body>x</body></html>')
    assert report.offline_data_docs(tmp_path) == 1
    text = page.read_text()
    assert "cdn.example" not in text and "<style>" in text and "x</body>" in text


def test_a_second_concurrent_build_is_refused(tmp_path: Path) -> None:
    import fcntl
    import subprocess
    import sys

    db = tmp_path / "kequn.duckdb"
    state_dir(db).mkdir()
    with open(state_dir(db) / "build.lock", "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        proc = subprocess.run(
            [sys.executable, "-m", "kequn.cli", "build", "--raw-dir", str(FIXTURE),
             "--db", str(db)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert "another build" in proc.stderr
    assert not db.exists() and not (state_dir(db) / "builds").exists()


def test_nightly_raw_gate_checks_the_new_batch_on_its_own(clean_typed: tuple[Path, Path],
                                                          tmp_path: Path) -> None:
    """A nightly build gates only the batch it landed: a day whose every trade_time is
    unparseable fails, though it is a small share of all typed rows (which pass), and the
    row bounds on all rows are shifted onto the batch."""
    extract, tmp = tmp_path / "raw", tmp_path / "wh"
    shutil.copytree(clean_typed[0], extract)
    shutil.copytree(clean_typed[1], tmp, ignore=shutil.ignore_patterns("raw", "target", "logs"))
    first_batch = 1
    header = (extract / "trades" / "trades_2025-11-27.csv").read_text().splitlines()[0]
    rows = [f"T9{i:02d},A001,600519.SH,29/11/2025 10:00,B,1,1600,1600,0,app,filled,"
            "2025-11-29 10:00:00" for i in range(3)]
    (extract / "trades" / "trades_2025-11-29.csv").write_text("\n".join([header, *rows]) + "\n")
    db, second = _typed(extract, tmp)
    assert second.batch_id == first_batch + 1
    assert delivered_counts(tmp / "landing", second.batch_id)["trades"] == 3
    before = delivered_counts(tmp / "landing", first_batch)
    thresholds = gates.load_thresholds({})

    every_row = gates.run_raw_gate(db, tmp_path / "all", thresholds)
    assert every_row.success, "\n".join(every_row.lines())

    nightly = gates.run_raw_gate(db, tmp_path / "new", thresholds,
                                 new_batch=second.batch_id, rows_before=before)
    assert not nightly.success
    found = {(f.asset, f.column) for f in nightly.findings}
    assert ("trades", "trade_time") in found, "\n".join(nightly.lines())
    assert "29/11/2025 10:00" in "\n".join(nightly.lines())
    # tables without a new file pass: their (empty) batch is within the shifted bounds
    assert {f.asset for f in nightly.findings} == {"trades"}, "\n".join(nightly.lines())

    # a bound on all delivered trades rows: 1 row over it fails the batch, at it passes
    total = delivered_counts(tmp / "landing")["trades"]
    for limit, ok in ((total - 1, False), (total, True)):
        capped = {**thresholds, "row_bounds": {"default": {"min": 1, "max": None},
                                               "trades": {"min": 1, "max": limit}}}
        clean_new = gates.run_raw_gate(db, tmp_path / f"cap{limit}", capped,
                                       new_batch=first_batch, rows_before={})
        assert clean_new.success, "\n".join(clean_new.lines())
        shifted = gates.run_raw_gate(db, tmp_path / f"shift{limit}", capped,
                                     new_batch=second.batch_id, rows_before=before)
        row_count_failed = any(f.asset == "trades" and "row count" in f.description
                               for f in shifted.findings)
        assert row_count_failed != ok, "\n".join(shifted.lines())
