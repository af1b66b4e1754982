"""Postgres' load step on the real private cluster: every delivered row lands once in raw.*,
with lineage, and a file the contract refuses leaves raw as it was."""

from __future__ import annotations

import csv
import gzip
import shutil
from pathlib import Path

import duckdb
import pytest

from kequn.contract import raw_tables
from kequn.engines import postgres
from kequn.engines.pg_load import LoadError, load
from kequn.engines.postgres import connect

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "handwritten_extract"


def _rows_in_files(raw: Path, table: str) -> int:
    """Rows of a table's files, counted by DuckDB (a reader independent of the loader)."""
    con = duckdb.connect()
    total = 0
    for path in sorted((raw / table).iterdir()):
        if path.name.endswith(".parquet"):
            total += con.execute("select count(*) from read_parquet(?)", [str(path)]).fetchone()[0]
        elif path.name.endswith((".csv", ".csv.gz")):
            total += con.execute(
                "select count(*) from read_csv(?, header = true, all_varchar = true)", [str(path)]
            ).fetchone()[0]
    return total


def _fetch(env: dict[str, str], sql: str) -> list[tuple]:
    return postgres.query(env, sql)


@pytest.fixture
def fresh_raw(pg_env: dict[str, str], tmp_path: Path) -> tuple[dict[str, str], Path]:
    """An empty raw schema and a private copy of the fixture (one CSV gzipped)."""
    con = connect(pg_env)
    with con, con.cursor() as cur:
        cur.execute("drop schema if exists raw cascade")
    con.close()
    raw = tmp_path / "raw"
    shutil.copytree(FIXTURE, raw)
    plain = raw / "accounts" / "accounts_2025-11-02.csv"
    with open(plain, "rb") as src, gzip.open(plain.with_name(plain.name + ".gz"), "wb") as dst:
        shutil.copyfileobj(src, dst)
    plain.unlink()
    return pg_env, raw


def test_every_row_loads_once_with_lineage(fresh_raw: tuple[dict[str, str], Path]) -> None:
    env, raw = fresh_raw
    report = load(raw, env)
    for table in raw_tables():
        expected = _rows_in_files(raw, table)
        assert expected > 0, table
        (loaded,) = _fetch(env, f"select count(*) from raw.{table}")[0]
        assert loaded == expected == report.rows_loaded[table], table
    # lineage: the first data row of a CSV, value for value
    with open(raw / "clients" / "clients_2025-11-01.csv", encoding="utf-8", newline="") as fh:
        first = next(csv.DictReader(fh))
    got = _fetch(
        env,
        "select client_id, updated_at, _batch_id from raw.clients "
        "where _source_file = 'clients/clients_2025-11-01.csv' and _row_in_file = 1",
    )
    assert got == [(first["client_id"], first["updated_at"], report.batch_id)]
    assert "accounts/accounts_2025-11-02.csv.gz" in report.files_loaded["accounts"]
    # a second load reads nothing new
    again = load(raw, env)
    assert again.rows_loaded == {}
    assert _fetch(env, "select count(*) from raw.accounts")[0][0] == _rows_in_files(raw, "accounts")


def test_rewritten_file_is_refused(fresh_raw: tuple[dict[str, str], Path]) -> None:
    env, raw = fresh_raw
    load(raw, env)
    path = raw / "fx_rates" / "fx_rates_2025-11.csv"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("0.9", "0.8", 1), encoding="utf-8")
    with pytest.raises(
        LoadError, match=r"fx_rates: file fx_rates/fx_rates_2025-11.csv was rewritten"
    ):
        load(raw, env)


def test_missing_column_is_refused_naming_table_file_column(
    fresh_raw: tuple[dict[str, str], Path], drop_csv_column
) -> None:
    env, raw = fresh_raw
    path = raw / "trades" / "trades_2025-11-27.csv"
    drop_csv_column(path, "price")
    with pytest.raises(
        LoadError, match=r"trades: file trades/trades_2025-11-27.csv lacks contract column price"
    ):
        load(raw, env)
    # one load, one transaction: nothing of it stayed
    assert _fetch(env, "select count(*) from pg_namespace where nspname = 'raw'")[0][0] == 0
