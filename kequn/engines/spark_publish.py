"""Write–audit–publish on Spark: build into new databases, repoint readers' views after the gates.

Spark (without Delta or Iceberg, not obtainable offline) has no transactions, and the Hive
catalog renames neither a database nor a table across databases. So a build writes its own
databases, `<schema>__b<id>` (KEQUN_SCHEMA_SUFFIX, macros/generate_schema_name.sql), and
readers query the stable database `marts`, which holds one view per mart
(`select * from marts__b<id>.<mart>`). Only when every gate passed does `publish` repoint
those views (each `create or replace view` is atomic; a reader between two of them can see
two builds, see DECISIONS.md), record the build in `marts`' properties, and drop the
databases of earlier builds. A failed build changes no view: its databases stay for
inspection until the next build with the same id, or `discard`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from kequn import PROJECT_DIR, dbt
from kequn.dbt import overridden
from kequn.engines import spark as spark_session
from kequn.engines.audit import run_gates

BUILT_SCHEMAS = ("rules", "staging", "intermediate", "marts")
READER_DATABASE = "marts"
BUILD_PROPERTY = "kequn.published_build"


class PublishError(RuntimeError):
    """A build that was not published; readers' views are unchanged."""


@dataclass(frozen=True)
class Build:
    build_id: str

    @property
    def suffix(self) -> str:
        return f"__b{self.build_id}"

    def schema(self, published: str) -> str:
        return published + self.suffix


def run_dbt(build: Build, args: Sequence[str], env: dict[str, str] | None = None) -> None:
    """Run one dbt command in-process into the build's databases (`--target spark`); it
    shares this process's Spark session."""
    target = PROJECT_DIR / "warehouse" / "spark-builds" / "target"
    overrides = {**spark_session.environ(), **(env or {}), "KEQUN_SCHEMA_SUFFIX": build.suffix,
                 "DO_NOT_TRACK": "1"}
    errors: list[str] = []   # a failed hook or operation reports only through dbt's events

    def keep_errors(event: Any) -> None:
        if event.info.level == "error" and event.info.msg:
            errors.append(str(event.info.msg).strip())

    with overridden(overrides):
        try:
            dbt.run_dbt([*args, "--target", "spark"], target_path=target,
                        log_path=target.parent / "logs", echo=False, callbacks=[keep_errors])
        except dbt.DbtError as exc:
            detail = "\n  ".join(errors[:5])
            raise PublishError(f"{exc}\n  {detail}\n(build {build.build_id}; "
                               "readers' views unchanged)") from exc


def published_build(spark: Any) -> str | None:
    """The build the readers' views point at, or None before the first publish."""
    if not spark.catalog.databaseExists(READER_DATABASE):
        return None
    rows = spark.sql(f"describe database extended {READER_DATABASE}").collect()
    props = next((r[1] for r in rows if r[0].lower() == "properties"), "") or ""
    key = f"({BUILD_PROPERTY},"
    if key not in props:
        return None
    return props.split(key, 1)[1].split(")", 1)[0].strip()


def publish(build: Build, spark: Any | None = None) -> list[str]:
    """Point every view of `marts` at the build's marts; returns the marts published."""
    spark = spark or spark_session.session()
    built = build.schema("marts")
    if not spark.catalog.databaseExists(built):
        raise PublishError(f"build {build.build_id} has no database {built}: nothing to publish")
    marts = sorted(t.name for t in spark.catalog.listTables(built) if not t.isTemporary)
    previous = published_build(spark)
    spark.sql(f"create database if not exists {READER_DATABASE}")
    stale = {t.name for t in spark.catalog.listTables(READER_DATABASE)} - set(marts)
    for mart in marts:
        spark.sql(f"create or replace view {READER_DATABASE}.{mart} as "
                  f"select * from {built}.{mart}")
    for name in sorted(stale):
        spark.sql(f"drop view if exists {READER_DATABASE}.{name}")
    spark.sql(f"alter database {READER_DATABASE} set dbproperties "
              f"('{BUILD_PROPERTY}' = '{build.build_id}')")
    if previous and previous != build.build_id:
        discard(Build(previous), spark)
    return marts


def discard(build: Build, spark: Any | None = None) -> None:
    """Drop a build's databases."""
    spark = spark or spark_session.session()
    for schema in BUILT_SCHEMAS:
        spark.sql(f"drop database if exists {build.schema(schema)} cascade")


def write_audit_publish(build: Build, dbt_commands: Sequence[Sequence[str]],
                        gates: Sequence[Callable[[Build], None]] = (),
                        env: dict[str, str] | None = None) -> list[str]:
    """Write (dbt into the build's databases), audit (each gate raises to refuse), publish.
    Any failure leaves the readers' views as they were and raises PublishError."""
    spark = spark_session.session()
    if published_build(spark) == build.build_id:
        raise PublishError(f"build {build.build_id} is the published one; use a new build id")
    discard(build, spark)
    for args in dbt_commands:
        run_dbt(build, args, env)
    run_gates(build, gates, build.build_id, PublishError, "readers' views unchanged")
    return publish(build, spark)
