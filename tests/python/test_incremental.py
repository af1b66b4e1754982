"""Incremental = full refresh: a nightly build on top of yesterday's warehouse must give
exactly the marts (and big staging tables) a --full-refresh build of the same extract gives.

One small generated extract (days 1..N-1) is built; `kequn generate --append-day` adds day
N (new snapshots, trades, transfers, events, and cancellations of day N-1's trades where
the day has any). At this scale the generated day rarely holds a late correction, so day N
also brings one file of late corrections to October (`*_late.csv`, later than every other
file): a cancelled trade, a trade whose channel was corrected, and a re-delivered holdings
row with a new market value. They must reach their old partitions (trade_date, snapshot
date) and the past month ends of the history marts. The warehouse is then built incrementally
(`kequn build` without --full-refresh: a copy of the published DB, only the new files
landed) and, separately, from scratch with --full-refresh. Every table of the `staging` and
`marts` schemas is compared row for row (EXCEPT ALL both ways, so duplicates count).

Columns ignored, and why they legitimately differ:
- `_batch_id`: landing lineage (in staging, and the history marts' watermark). A full
  refresh re-lands every file as batch 1; the nightly path landed day N as batch 2. It
  names the landing run, not the data.
- `built_at` (dq_reconciliation): the build's start time.

Tables left out, and why: the behavioural-cluster marts (STATEFUL_MARTS) are stateful by
design: a build matches its cluster ids to the previous build's centroids and keeps past
months' assignments as they were made, while a full refresh starts from no previous fit.
tests/python/test_clusters.py covers them (same input -> identical fit; ids carried over).

To save wall time the first build and the full-refresh build run side by side (two copies
of the extract: the append day is deterministic, so B = A + day N).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb
import pytest
from conftest import isolated_env, kequn

pytestmark = pytest.mark.slow

SCALE = "0.002"
IGNORED_COLUMNS = {"_batch_id", "built_at"}
HISTORY_MARTS = ["client_features_monthly", "client_group_membership_history"]
STATEFUL_MARTS = {"client_behaviour_clusters", "behaviour_cluster_profiles",
                  "behaviour_cluster_centroids", "behaviour_cluster_group_crosstab"}
INCREMENTAL_MODELS = [
    "stg_brokerage__trades", "stg_brokerage__holdings", "stg_brokerage__balances",
    "stg_brokerage__app_events", "stg_brokerage__cash_transfers",
    "stg_brokerage__trades_rejected", "stg_brokerage__holdings_rejected",
    "stg_brokerage__balances_rejected", "stg_brokerage__app_events_rejected",
    "stg_brokerage__cash_transfers_rejected",
]


def _build(raw: Path, db: Path, *extra: str) -> subprocess.CompletedProcess:
    return kequn("build", "--raw-dir", str(raw), "--db", str(db), *extra,
                 env=isolated_env(db.parent))


def _copy_extract(src: Path, dst: Path) -> None:
    shutil.copytree(src, dst)
    shutil.copytree(src.parent / (src.name + ".truth"), dst.parent / (dst.name + ".truth"))


LATE_UPDATED_AT = "2025-12-01 18:00:00"


def _add_late_corrections(raw: Path) -> dict[str, str]:
    """Day N's late corrections of October data, as a delivery would bring them."""
    con = duckdb.connect()
    trades = raw / "trades" / "2025-10.parquet"
    picked = con.execute(
        f"select trade_id from read_parquet('{trades}') "
        "where lower(trim(status)) = 'filled' and trade_time like '2025-10-1%' "
        "and regexp_matches(account_id, '^A[0-9]{9}$') "
        "qualify count(*) over (partition by trade_id) = 1 order by trade_id limit 2"
    ).fetchall()
    cancelled, corrected = picked[0][0], picked[1][0]
    con.execute(
        f"copy (select * replace ("
        f"  case when trade_id = '{cancelled}' then 'cancelled' else status end as status,"
        f"  case when trade_id = '{corrected}' then 'branch' else channel end as channel,"
        f"  '{LATE_UPDATED_AT}' as updated_at)"
        f" from read_parquet('{trades}') where trade_id in ('{cancelled}', '{corrected}'))"
        f" to '{raw / 'trades' / '2025-12-01_late.csv'}' (header, delimiter ',')")
    holdings = raw / "holdings" / "2025-10-31.parquet"
    con.execute(
        f"copy (select * replace (cast(cast(market_value as decimal(18, 2)) * 2 as varchar)"
        f"  as market_value) from read_parquet('{holdings}') "
        f" where market_value is not null and try_cast(market_value as decimal(18, 2)) > 0 "
        f" order by account_id, product_code limit 1)"
        f" to '{raw / 'holdings' / '2025-12-01_late.csv'}' (header, delimiter ',')")
    con.close()
    return {"cancelled": cancelled, "corrected": corrected}


def _latest_run_results(db: Path) -> dict:
    runs = sorted((db.parent / "builds").iterdir())
    return json.loads((runs[-1] / "target" / "run_results.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def warehouses(tmp_path_factory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("incremental")
    raw_a, raw_b = tmp / "a" / "raw", tmp / "b" / "raw"
    raw_a.parent.mkdir()
    raw_b.parent.mkdir()
    kequn("generate", "--scale", SCALE, "--out", str(raw_a), "--no-progress")
    _copy_extract(raw_a, raw_b)
    kequn("generate", "--append-day", "--out", str(raw_b), "--no-progress")
    late = _add_late_corrections(raw_b)
    inc_db, full_db = tmp / "nightly" / "kequn.duckdb", tmp / "full" / "kequn.duckdb"
    with ThreadPoolExecutor(max_workers=2) as pool:
        first = pool.submit(_build, raw_a, inc_db)                      # days 1..N-1
        full = pool.submit(_build, raw_b, full_db, "--full-refresh")   # days 1..N at once
        first.result()
        full.result()
    # the nightly run: yesterday's published warehouse, the extract now holding day N
    _build(raw_b, inc_db)
    return {"nightly": inc_db, "full": full_db, "raw": raw_b, **late}


def _tables(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    return con.execute(
        "select schema_name, table_name from duckdb_tables() "
        "where database_name = 'nightly' and schema_name in ('staging', 'marts') "
        "order by 1, 2").fetchall()


@pytest.fixture(scope="module")
def con(warehouses):
    c = duckdb.connect()
    c.execute(f"attach '{warehouses['nightly']}' as nightly (read_only)")
    c.execute(f"attach '{warehouses['full']}' as full_refresh (read_only)")
    yield c
    c.close()


def test_nightly_build_ran_incrementally(warehouses):
    """The second build really took the incremental path: only day N was landed, and every
    incremental model compiled its partition filter (not a silent full rebuild)."""
    results = {r["unique_id"].rsplit(".", 1)[-1]: r
               for r in _latest_run_results(warehouses["nightly"])["results"]}
    for model in INCREMENTAL_MODELS:
        code = results[model].get("compiled_code") or ""
        # the partitions to rebuild reach the SQL as literals; the rejects take new batches
        if model.endswith("_rejected"):   # watermark: the table's greatest batch (0 if empty)
            assert re.search(r"and _batch_id > [01]\b", code), model
        else:
            assert "cast('2025-12-01' as date)" in code, model
    manifest = json.loads((warehouses["nightly"].parent / "landing" / "_manifest.json")
                          .read_text(encoding="utf-8"))
    assert manifest["batches"] == 2
    new_files = sorted(k for k, v in manifest["files"].items() if v["batch_id"] == 2)
    assert new_files and all("2025-12-01" in f for f in new_files), new_files


def test_late_corrections_reached_their_old_partitions(con, warehouses):
    """Day N's corrections of October were rebuilt into October's partitions by the nightly
    run (not appended beside the old rows)."""
    rows = dict((r[0], r[1:]) for r in con.execute(
        "select trade_id, trade_date, status, channel, _batch_id, _superseded_rows "
        "from nightly.staging.stg_brokerage__trades where trade_id in (?, ?)",
        [warehouses["cancelled"], warehouses["corrected"]]).fetchall())
    assert len(rows) == 2
    cancelled, corrected = rows[warehouses["cancelled"]], rows[warehouses["corrected"]]
    assert str(cancelled[0]).startswith("2025-10") and cancelled[1] == "cancelled"
    assert corrected[2] == "branch" and corrected[3] == 2 and corrected[4] == 1
    holding = con.execute(
        "select count(*) from nightly.staging.stg_brokerage__holdings "
        "where snapshot_date = date '2025-10-31' and _batch_id = 2 and _superseded_rows = 1"
    ).fetchone()[0]
    assert holding == 1


def test_history_marts_restated_from_the_corrected_month(con, warehouses):
    """October's late corrections restate the history marts from October on; the months
    before were kept as the first build computed them (batch 1), not recomputed."""
    results = {r["unique_id"].rsplit(".", 1)[-1]: r
               for r in _latest_run_results(warehouses["nightly"])["results"]}
    for model in HISTORY_MARTS:
        assert "as_of_date >= cast('2025-10-01' as date)" in results[model]["compiled_code"]
        kept, restated = con.execute(
            f"select min(partition_month_end) filter (where _batch_id = 1), "
            f"min(partition_month_end) filter (where _batch_id = 2) from nightly.marts.{model}"
        ).fetchone()
        assert str(restated) == "2025-10-31" and str(kept) < "2025-10-31", model


def test_nightly_typed_only_the_new_batch_and_computed_only_the_restated_months(
        con, warehouses):
    """Each base model typed only batch 2's raw rows (appended to batch 1's), and the
    intermediate layer computed client state only from October (the restated months) on."""
    results = {r["unique_id"].rsplit(".", 1)[-1]: r
               for r in _latest_run_results(warehouses["nightly"])["results"]}
    base = [m for m in results if m.startswith("base_brokerage__")]
    assert len(base) == 9, base
    manifest = json.loads((warehouses["nightly"].parent / "landing" / "_manifest.json")
                          .read_text(encoding="utf-8"))
    delivered = {f.split("/")[0] for f, v in manifest["files"].items() if v["batch_id"] == 2}
    assert {"trades", "holdings", "balances", "app_events"} <= delivered, delivered
    for model in base:
        assert re.search(r"where _batch_id > 1\b", results[model]["compiled_code"]), model
        table = model.removeprefix("base_brokerage__")
        assert con.execute(f"select min(_batch_id), max(_batch_id) from nightly.staging.{model}"
                           ).fetchone() == (1, 2 if table in delivered else 1), model
    assert "as_of_date >= cast('2025-10-01' as date)" in (
        results["int_as_of_dates_spined"]["compiled_code"])
    computed = con.execute(
        "select min(as_of_date) filter (where is_computed), min(as_of_date) "
        "from nightly.intermediate.int_as_of_dates_spined").fetchone()
    assert str(computed[0]) == "2025-10-31" and str(computed[1]) < "2025-10-31", computed
    first = con.execute(
        "select min(as_of_date) from nightly.intermediate.int_client_measures_joined"
    ).fetchone()[0]
    assert str(first) == "2025-10-31"
    full_first = con.execute(
        "select min(as_of_date) from full_refresh.intermediate.int_client_measures_joined"
    ).fetchone()[0]
    assert str(full_first) < "2025-10-31"


@pytest.mark.parametrize("schema", ["staging", "marts"])
def test_nightly_equals_full_refresh(con, schema):
    """Every staging and marts table: same columns, same rows (as multisets)."""
    tables = [t for s, t in _tables(con) if s == schema]
    assert tables, f"no {schema} tables built"
    full_tables = {r[0] for r in con.execute(
        "select table_name from duckdb_tables() where database_name = 'full_refresh' "
        "and schema_name = ?", [schema]).fetchall()}
    assert set(tables) == full_tables
    tables = [t for t in tables if t not in STATEFUL_MARTS]
    diffs = []
    for table in tables:
        cols = [r[0] for r in con.execute(
            "select column_name from duckdb_columns() where database_name = 'nightly' "
            "and schema_name = ? and table_name = ? order by column_index",
            [schema, table]).fetchall()]
        full_cols = [r[0] for r in con.execute(
            "select column_name from duckdb_columns() where database_name = 'full_refresh' "
            "and schema_name = ? and table_name = ? order by column_index",
            [schema, table]).fetchall()]
        assert cols == full_cols, f"{schema}.{table}: columns differ"
        keep = ", ".join(f'"{c}"' for c in cols if c not in IGNORED_COLUMNS)
        a, b = f'nightly.{schema}."{table}"', f'full_refresh.{schema}."{table}"'
        rows = con.execute(f"select (select count(*) from {a}), (select count(*) from {b})"
                           ).fetchone()
        only_nightly = con.execute(
            f"select count(*) from (select {keep} from {a} except all select {keep} from {b})"
        ).fetchone()[0]
        only_full = con.execute(
            f"select count(*) from (select {keep} from {b} except all select {keep} from {a})"
        ).fetchone()[0]
        if rows[0] != rows[1] or only_nightly or only_full:
            diffs.append(f"{table}: {rows[0]} vs {rows[1]} rows, {only_nightly} only in "
                         f"nightly, {only_full} only in full refresh")
        if schema == "marts" or table.startswith("stg_brokerage__trades"):
            assert rows[0] > 0 or table.endswith("_rejected"), f"{table} is empty"
    assert not diffs, "\n".join(diffs)
