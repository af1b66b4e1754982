"""DuckDB and Spark build the same answers from the hand-written fixture, row for row
(issue 10 item 6): the DuckDB warehouse of `kequn build`, and a Spark build of the same
marts on a real local session (the fixture read in place). Floating-point columns may
differ by FLOAT_TOLERANCE (relative; the engines sum and divide in different orders);
every other value must be equal."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest

from kequn.engines.compare_rows import compare_rows
from kequn.engines.spark_publish import Build, run_dbt

FLOAT_TOLERANCE = 1e-9
# each compared mart and its primary key
MARTS = {
    "client_segments": ["client_id"],
    "client_group_memberships": ["client_id", "group_code"],
    "client_product_recommendations": ["client_id", "product_code"],
    "client_features_monthly": ["client_id", "month_end"],
    "dq_reconciliation": ["table_name"],
}
# when the build ran, not what it computed
IGNORED = {"dq_reconciliation": ["built_at"]}
BUILD = Build("eq")


@pytest.fixture(scope="module")
def spark_build(spark: tuple[Any, dict[str, str]]) -> Any:
    """The seeds and the compared marts (with everything upstream) built on Spark, in one
    dbt invocation (on-run-start registers the fixture's files once)."""
    session, env = spark
    selection = ["+" + mart for mart in MARTS]
    run_dbt(BUILD, ["build", "-s", *selection, "--resource-type", "seed",
                    "--resource-type", "model"], env)
    return session


def _spark_rows(session: Any, table: str) -> list[dict[str, Any]]:
    frame = session.table(f"{BUILD.schema('marts')}.{table}")
    # Spark timestamps are instants, handed to Python in the process's zone: read them as
    # the session zone's wall clock (Asia/Shanghai), which is what DuckDB stores
    columns = [f"cast(`{f.name}` as timestamp_ntz) as `{f.name}`"
               if f.dataType.typeName() == "timestamp" else f"`{f.name}`"
               for f in frame.schema.fields]
    return [row.asDict(recursive=True) for row in frame.selectExpr(*columns).collect()]


def _duckdb_rows(db: Path, table: str) -> list[dict[str, Any]]:
    with duckdb.connect(str(db), read_only=True) as con:
        cursor = con.execute(f"select * from marts.{table}")
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


@pytest.mark.slow
@pytest.mark.parametrize("table", list(MARTS))
def test_mart_is_identical_on_duckdb_and_spark(table: str, handwritten_build: Path,
                                               spark_build: Any) -> None:
    expected = _duckdb_rows(handwritten_build, table)
    actual = _spark_rows(spark_build, table)
    assert expected, f"{table} is empty on DuckDB: nothing would be compared"
    problems = compare_rows(table, expected, actual, MARTS[table],
                            float_tolerance=FLOAT_TOLERANCE, names=("duckdb", "spark"),
                            ignore=IGNORED.get(table, ()))
    assert not problems, f"{len(problems)} differences:\n" + "\n".join(problems[:40])
