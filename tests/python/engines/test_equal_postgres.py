"""DuckDB and Postgres build the same warehouse from the same extract, row for row (issue 10,
item 6): the hand-written fixture and a tiny generated extract, each built by `kequn build`
on DuckDB and by pg_load + `dbt build --target postgres` (every model, seed, unit and data
test) on the private cluster, then compared with kequn.engines.compare — matched by key,
floats within rel 1e-9, everything else exact. `dq_reconciliation.built_at` is the build's
own clock and is not compared. The rejects of every raw table are compared too (same rows,
same reasons), on the key (`_source_file`, `_row_in_file`): the raw row each one is."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from conftest import FIXTURES, isolated_env, kequn

from kequn import PROJECT_DIR
from kequn.engines import postgres
from kequn.engines.compare import ROW, compare_tables, format_mismatches
from kequn.engines.pg_load import load
from kequn.engines.postgres import connect
from kequn.state import working_db

RAW_TABLES = ("clients", "accounts", "products", "fx_rates", "holdings", "balances", "trades",
              "cash_transfers", "app_events")
MARTS = {
    "marts.client_segments": ["client_id"],
    "marts.client_group_memberships": ["client_id", "group_code"],
    "marts.client_product_recommendations": ["client_id", "product_code"],
    "marts.client_features_monthly": ["client_id", "month_end"],
    "marts.dq_reconciliation": ["table_name"],
}
REJECTS = {f"staging.stg_brokerage__{t}_rejected": ["_source_file", "_row_in_file"]
           for t in RAW_TABLES}
IGNORE = {"marts.dq_reconciliation": ["built_at"]}  # the build's clock, not data
SCALE, SEED = "0.002", "7"


def _database(name: str) -> dict[str, str]:
    """A fresh database of the private cluster for one extract, owned by the app role."""
    cluster = postgres.Cluster(
        root=Path(os.environ.get("KEQUN_PG_DIR", postgres.DEFAULT_DIR)),
        port=int(os.environ.get("KEQUN_PG_PORT", postgres.DEFAULT_PORT)),
    )
    postgres.start(cluster)
    postgres.psql_as_superuser(cluster, f"drop database if exists {name} with (force)")
    postgres.psql_as_superuser(cluster, f"create database {name} owner {postgres.APP_ROLE[0]}")
    return {**cluster.env(), "KEQUN_PG_DATABASE": name}


def _postgres_build(raw_dir: Path, database: str, tmp: Path) -> dict[str, str]:
    """Load `raw_dir` into raw.* and `dbt build --target postgres` everything."""
    env = _database(database)
    load(raw_dir, env=env)
    proc = subprocess.run(
        [str(Path(sys.executable).with_name("dbt")), "build", "--target", "postgres"],
        cwd=PROJECT_DIR, capture_output=True, text=True, timeout=3600,
        env={**os.environ, **env, **isolated_env(tmp), "DO_NOT_TRACK": "1"},
    )
    assert proc.returncode == 0, proc.stdout[-8000:] + proc.stderr[-2000:]
    return env


def _assert_equal(db: Path, env: dict[str, str], tables: dict[str, list[str]]) -> None:
    """`db`'s working database holds the marts (as published) and staging, rejects included."""
    duck = duckdb.connect(str(working_db(db)), read_only=True)
    pg = connect(env)
    try:
        mismatches = compare_tables(duck, pg, tables, ignore=IGNORE)
        # a comparison of two empty tables proves nothing: every mart has rows
        for table in tables.keys() & MARTS.keys():
            assert duck.execute(f"select count(*) from {table}").fetchone()[0] > 0, table
    finally:
        duck.close()
        pg.close()
    assert not mismatches, "DuckDB (left) and Postgres (right) differ: " + format_mismatches(
        mismatches)


@pytest.fixture(scope="module")
def pg_handwritten(tmp_path_factory) -> Iterator[dict[str, str]]:
    yield _postgres_build(FIXTURES / "handwritten_extract", "kequn_equal_fixture",
                          tmp_path_factory.mktemp("pg_handwritten"))


def test_handwritten_marts_equal(handwritten_build: Path, pg_handwritten: dict[str, str]) -> None:
    _assert_equal(handwritten_build, pg_handwritten, MARTS)


def test_handwritten_rejects_equal(handwritten_build: Path,
                                   pg_handwritten: dict[str, str]) -> None:
    with duckdb.connect(str(working_db(handwritten_build)), read_only=True) as duck:
        rejected = sum(duck.execute(f"select count(*) from {t}").fetchone()[0] for t in REJECTS)
    assert rejected > 0  # the fixture is built to break rules
    _assert_equal(handwritten_build, pg_handwritten, REJECTS)


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """A tiny generated extract, built on DuckDB and on Postgres."""
    tmp = tmp_path_factory.mktemp("generated")
    raw, db = tmp / "raw", tmp / "kequn.duckdb"
    kequn("generate", "--scale", SCALE, "--seed", SEED, "--out", str(raw), "--no-progress")
    kequn("build", "--raw-dir", str(raw), "--db", str(db), env=isolated_env(tmp))
    return db, _postgres_build(raw, "kequn_equal_generated", tmp / "pg")


def test_generated_marts_and_rejects_equal(generated: tuple[Path, dict[str, str]]) -> None:
    db, env = generated
    _assert_equal(db, env, {**MARTS, **REJECTS})


def test_a_difference_is_named() -> None:
    """The comparison itself can fail, and says table, key, column and both values."""
    from kequn.engines.compare import Rows, compare_rows

    left = Rows(("id", "amount", "share"), [("C1", 1, 0.1), ("C2", 2, 0.2)])
    right = Rows(("id", "amount", "share"), [("C1", 1, 0.1 + 1e-12), ("C3", 3, 0.3)])
    found = {(m.key, m.column, m.left, m.right) for m in compare_rows("t", left, right, ["id"])}
    assert found == {(("C2",), ROW, "present", None), (("C3",), ROW, None, "present")}
    right = Rows(("id", "amount", "share"), [("C1", 1, 0.1001), ("C2", 3, 0.2)])
    [share, amount] = compare_rows("t", left, right, ["id"])
    assert (share.key, share.column) == (("C1",), "share")
    assert (amount.column, amount.left, amount.right) == ("amount", 2, 3)
    assert "t key=('C2',) column amount: left=2 right=3" in str(amount)
