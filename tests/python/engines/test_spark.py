"""Spark on a real local session (local[2]): the delivered files read in place through the
on-run-start views, and write–audit–publish by repointing the readers' views. One module,
one session (the machine has 2 cores); dbt runs in-process on the same session."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import duckdb
import pytest

from kequn.contract import raw_tables
from kequn.engines.spark_publish import (
    Build,
    PublishError,
    published_build,
    run_dbt,
    write_audit_publish,
)

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "handwritten_extract"
# The plumbing on a small selection (Spark's per-statement cost is high on 2 shared cores);
# the whole project on Spark, compared with DuckDB, is test_equal_spark.py.
MODELS = ["int_rule_parameters_pivoted", "metricflow_time_spine"]
COMMANDS = [["seed", "-s", "rule_parameters"], ["run", "-s", *MODELS]]


def _rows(raw: Path, table: str) -> int:
    con = duckdb.connect()
    total = 0
    for path in sorted((raw / table).iterdir()):
        reader = "read_parquet(?)" if path.suffix == ".parquet" else \
            "read_csv(?, header = true, all_varchar = true)"
        total += con.execute(f"select count(*) from {reader}", [str(path)]).fetchone()[0]
    return total


def test_files_are_read_in_place_with_lineage(spark) -> None:
    session, env = spark
    run_dbt(Build("probe"), ["run-operation", "spark_register_raw_files"], env)
    for table in raw_tables():
        assert session.sql(f"select count(*) from global_temp.{table}").first()[0] == \
            _rows(FIXTURE, table), table
    with open(FIXTURE / "clients" / "clients_2025-11-01.csv", encoding="utf-8", newline="") as fh:
        first = next(csv.DictReader(fh))
    row = session.sql("select client_id, updated_at from global_temp.clients "
                      "where _source_file = 'clients/clients_2025-11-01.csv' "
                      "and _row_in_file = 1").collect()
    assert [tuple(r) for r in row] == [(first["client_id"], first["updated_at"])]
    # nothing of Hive's in the working directory
    assert not (Path.cwd() / "metastore_db").exists()
    assert not (Path.cwd() / "derby.log").exists()


def test_missing_column_is_refused_naming_table_file_column(spark, tmp_path: Path,
                                                           drop_csv_column) -> None:
    _, env = spark
    raw = tmp_path / "raw"
    shutil.copytree(FIXTURE, raw)
    path = raw / "trades" / "trades_2025-11-27.csv"
    drop_csv_column(path, "price")
    refused = r"trades: file trades/trades_2025-11-27.csv lacks contract column price"
    with pytest.raises(PublishError, match=refused):
        run_dbt(Build("probe"), ["run-operation", "spark_register_raw_files"],
                {**env, "KEQUN_RAW_DIR": str(raw)})


def test_publish_and_a_refused_build(spark) -> None:
    session, env = spark
    assert write_audit_publish(Build("1"), COMMANDS, env=env) == ["metricflow_time_spine"]
    assert published_build(session) == "1"
    groups = session.sql("select count(*) from marts.metricflow_time_spine").first()[0]
    assert groups > 0

    def refuse(b: Build) -> None:
        raise AssertionError("marts gate failed on purpose")

    with pytest.raises(PublishError, match="refused build 2.*readers' views unchanged"):
        write_audit_publish(Build("2"), COMMANDS, gates=[refuse], env=env)
    assert published_build(session) == "1"
    view = session.sql("show create table marts.metricflow_time_spine").first()[0]
    assert "marts__b1" in view and "marts__b2" not in view
    assert session.sql("select count(*) from marts.metricflow_time_spine").first()[0] == groups
    # the refused build stays for inspection
    assert session.catalog.databaseExists("marts__b2")
