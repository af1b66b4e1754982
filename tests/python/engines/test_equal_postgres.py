"""DuckDB and Postgres build the same warehouse from the same extract, row for row (issue 10,
item 6): the hand-written fixture and a tiny generated extract, each built by `kequn build`
on DuckDB and by `kequn build --target postgres` (load, every model, seed, unit and data
test, both GX gates, publish) on the private cluster, then compared with
kequn.engines.compare — matched by key, floats within rel 1e-9, everything else exact.
`dq_reconciliation.built_at` is the build's own clock and is not compared. The rejects of
every raw table are compared too (same rows, same reasons), on the key (`_source_file`,
`_row_in_file`): the raw row each one is."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from conftest import FIXTURES, isolated_env, kequn

from kequn.engines.compare import ROW, compare_tables, format_mismatches
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


def _postgres_build(raw_dir: Path, env: dict[str, str], tmp: Path) -> dict[str, str]:
    """`kequn build --target postgres` of `raw_dir` into a fresh database: load into raw.*,
    dbt build into the __build schemas (every model, seed, unit and data test), both gates,
    publish, into the fresh database `env` reaches."""
    kequn("build", "--target", "postgres", "--raw-dir", str(raw_dir),
          env={**env, **isolated_env(tmp)}, timeout=3600)
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
def pg_handwritten(fresh_database, tmp_path_factory) -> Iterator[dict[str, str]]:
    yield _postgres_build(FIXTURES / "handwritten_extract", fresh_database("kequn_equal_fixture"),
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
def generated(fresh_database, tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """A tiny generated extract, built on DuckDB and on Postgres."""
    tmp = tmp_path_factory.mktemp("generated")
    raw, db = tmp / "raw", tmp / "kequn.duckdb"
    kequn("generate", "--scale", SCALE, "--seed", SEED, "--out", str(raw), "--no-progress")
    kequn("build", "--raw-dir", str(raw), "--db", str(db), env=isolated_env(tmp))
    return db, _postgres_build(raw, fresh_database("kequn_equal_generated"), tmp / "pg")


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
