"""Data-quality gates: Great Expectations suites run on the raw extract and the built marts.

The suites live as reviewable JSON in `expectations/gx/` (a GX file context), written from
their specs in kequn/gx_suites.py (the PII proof in kequn/pii_proof.py) by `python -m
kequn.gates sync`; `tests/python/test_gates.py` fails when the committed JSON and the specs
disagree. This module runs them.

At build time the context is copied into the build folder (results, Data Docs and the GX
bookkeeping land there, never in the repository) and run against:

* raw   — an in-memory DuckDB database (`:memory:kequn_raw_<id>`) holding one small profile
  table per raw table, computed in one grouped pass over its base model's new batch in the
  build's warehouse (dbt's first phase: the typing pass), attached read-only; the raw
  extract itself is never read here;
* marts — an in-memory DuckDB database that ATTACHes the freshly built warehouse READ_ONLY as
  `wh` and exposes each public mart as a view.

Thresholds are data, not SQL: each run loads `expectations/thresholds.yml` (plus CLI
overrides, and the raw row bounds) into a `gate_params` table the queries read. What parses
and which code variants are known is decided once, by the typing pass of the base models.

GX 1.24 on DuckDB needs one kept connection (see ../shared/notes/toolchain.md): GX keeps one
for SQLite/MSSQL; `_patch_gx_for_duckdb` makes it do the same for DuckDB.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kequn import DEFAULT_MEMORY_LIMIT, PROJECT_DIR
from kequn.gx_suites import (
    GROUP_CODES,
    PUBLIC_MARTS,
    RAW_SPEC,
    base_model,
    marts_expectations,
    raw_expectations,
    raw_profile_sql,
    raw_profile_sql_empty,
)
from kequn.pii_proof import pii_scan_sql, pii_scan_sql_empty
from kequn.sql import sql_str as _sql_str

EXPECTATIONS_DIR = PROJECT_DIR / "expectations"
GX_DIR = EXPECTATIONS_DIR / "gx"
THRESHOLDS_FILE = EXPECTATIONS_DIR / "thresholds.yml"

# dbt's first phase, before the raw gate: the seeds the typing pass reads and the base models
# (each raw row typed once, with the first rule it breaks), with their tests
BEFORE_RAW_GATE = "+path:models/staging/brokerage/base"

RAW_URL_VAR = "KEQUN_GX_RAW_URL"
MARTS_URL_VAR = "KEQUN_GX_MARTS_URL"
# ---------------------------------------------------------------------------------------
# GX plumbing
# ---------------------------------------------------------------------------------------
_PATCHED = False


def _patch_gx_for_duckdb() -> None:
    """Give DuckDB the single kept connection GX gives SQLite (else metrics come back empty)."""
    global _PATCHED
    if _PATCHED:
        return
    from great_expectations.execution_engine import sqlalchemy_execution_engine as see

    original_requires = see._dialect_requires_persisted_connection

    def requires(connection_string=None, credentials=None, url=None) -> bool:
        text = str(connection_string or url or (credentials or {}).get("drivername", ""))
        return text.startswith("duckdb") or original_requires(connection_string, credentials, url)

    original_get = see.SqlAlchemyExecutionEngine.get_connection

    @contextmanager
    def get_connection(self):
        if self.engine.dialect.name == "duckdb":
            if not self._connection:
                self._connection = self.engine.connect()
            yield self._connection
        else:
            with original_get(self) as conn:
                yield conn

    see._dialect_requires_persisted_connection = requires
    see.SqlAlchemyExecutionEngine.get_connection = get_connection
    _PATCHED = True


def _quiet_gx_env() -> None:
    os.environ["GX_ANALYTICS_ENABLED"] = "false"
    os.environ.setdefault("GX_HOME", os.environ.get("TMPDIR", "/tmp"))


def load_thresholds(overrides: dict[str, float] | None = None,
                    path: Path = THRESHOLDS_FILE) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    for k, v in (overrides or {}).items():
        if v is not None:
            doc["limits"][k] = v
    return doc


class MemoryDb:
    """A named in-memory DuckDB database shared by our keeper connection and GX's engine."""

    def __init__(self, label: str):
        import sqlalchemy as sa

        self.url = f"duckdb:///:memory:kequn_{label}_{uuid.uuid4().hex[:10]}"
        self.engine = sa.create_engine(self.url, poolclass=sa.pool.StaticPool)
        self.conn = self.engine.connect()
        # DuckDB's default is 80 % of RAM; the gates get the build's own budget (the PII
        # scan of a full build reads every varchar value of the warehouse)
        settings = {"memory_limit": os.environ.get("KEQUN_MEMORY_LIMIT", DEFAULT_MEMORY_LIMIT),
                    "threads": "2", "preserve_insertion_order": "false"}
        if os.environ.get("KEQUN_TEMP_DIR"):
            settings["temp_directory"] = os.environ["KEQUN_TEMP_DIR"]
        self.run(*(f"set {k} = {_sql_str(v)}" for k, v in settings.items()))

    def run(self, *statements: str) -> None:
        for stmt in statements:
            self.conn.exec_driver_sql(stmt)
        self.conn.commit()

    def rows(self, sql: str) -> list[tuple]:
        return [tuple(r) for r in self.conn.exec_driver_sql(sql).fetchall()]

    def close(self) -> None:
        with suppress(Exception):
            self.conn.close()
        self.engine.dispose()


def load_params(mem: MemoryDb, thresholds: dict[str, Any],
                 extra: dict[str, float | None] | None = None) -> None:
    limits = {**thresholds["limits"], **(extra or {})}
    values = [f"({_sql_str(k)}, {'null' if v is None else float(v)})"
              for k, v in limits.items()]
    mem.run("create or replace table gate_params (name varchar, value double)",
            f"insert into gate_params values {', '.join(values)}")


def _base_relations(mem: MemoryDb) -> dict[str, tuple[str, set[str]]]:
    """{raw table: (relation, its columns)} of the base models in the attached warehouse."""
    wanted = {base_model(t): t for t in RAW_SPEC}
    found: dict[str, tuple[str, set[str]]] = {}
    for schema, table, column in mem.rows(
            "select table_schema, table_name, column_name from information_schema.columns "
            "where table_catalog = 'wh' and table_name in ("
            + ", ".join(_sql_str(n) for n in wanted) + ") order by table_schema"):
        raw = wanted[table]
        relation = f'wh."{schema}"."{table}"'
        if raw in found and found[raw][0] != relation:
            continue
        found.setdefault(raw, (relation, set()))[1].add(column)
    return found


def _create_raw_profiles(mem: MemoryDb, db: Path | None, since_batch: int | None = None) -> None:
    """One table per raw table (the suite's asset): its base model's profile, computed in one
    grouped pass over the rows of batch `since_batch` (all rows without it)."""
    if db is not None:
        mem.run(f"attach {_sql_str(db)} as wh (read_only)")
    bases = _base_relations(mem) if db is not None else {}
    stmts = []
    for table in RAW_SPEC:
        if table in bases:
            relation, columns = bases[table]
            sql = raw_profile_sql(table, relation, columns, since_batch)
        else:
            sql = raw_profile_sql_empty(table)
        stmts.append(f"create or replace table {table} as {sql}")
    mem.run(*stmts)
    if db is not None:
        mem.run("detach wh")


def _create_marts_views(mem: MemoryDb, db: Path | None, landed: dict[str, int],
                        since_batch: int | None = None,
                        manifest: Path | None = None) -> list[str]:
    """Views over the attached warehouse; returns the public marts missing from it."""
    stmts: list[str] = []
    missing: list[str] = []
    if db is not None:
        mem.run(f"attach {_sql_str(db)} as wh (read_only)")
        present = {r[0] for r in mem.rows(
            "select table_name from information_schema.tables "
            "where table_catalog = 'wh' and table_schema = 'marts'")}
    else:
        present = set()
    for mart in PUBLIC_MARTS:
        if mart in present:
            stmts.append(f"create or replace view {mart} as select * from wh.marts.{mart}")
        else:
            if db is not None:
                missing.append(mart)
            stmts.append(f"create or replace view {mart} as "
                         "select null as missing_mart where false")
    stmts.append(
        "create or replace view warehouse_columns as select table_catalog, table_schema, "
        "table_name, column_name, data_type from information_schema.columns "
        + ("where table_catalog = 'wh'" if db is not None else "where false"))
    # Risk level of each client at the as-of date (suitability check): from staging's
    # current client version, the one home of that value.
    has_stg = db is not None and bool(mem.rows(
        "select 1 from information_schema.tables where table_catalog = 'wh' "
        "and table_schema = 'staging' and table_name = 'stg_brokerage__clients'"))
    if has_stg:
        # the version valid on the marts' as-of date, not the latest one: a build
        # `--as-of D` on an extract holding later re-assessments is judged by what held on D
        stmts.append("create or replace view client_risk_levels as "
                     + client_risk_levels_sql("wh.staging", "wh.marts"))
    else:
        stmts.append("create or replace view client_risk_levels as select "
                     "cast(null as varchar) as client_id, cast(null as varchar) as risk_level "
                     "where false")
    groups = _group_catalogue(mem, db)
    stmts.append("create or replace table known_group_codes (code varchar)")
    stmts.append("insert into known_group_codes values " + ", ".join(f"('{g}')" for g in groups))
    rows = [f"({_sql_str(t)}, {n})" for t, n in landed.items()] or ["('none', 0)"]
    stmts.append("create or replace table landed_counts (table_name varchar, landed_rows bigint)")
    stmts.append("insert into landed_counts values " + ", ".join(rows))
    mem.run(*stmts)
    scan = (pii_scan_sql(mem.rows, since_batch, manifest) if db is not None
            else pii_scan_sql_empty())
    # a table, not a view: the scan runs once, however GX queries the asset
    mem.run(f"create or replace table pii_value_hits as {scan}")
    return missing


def client_risk_levels_sql(staging: str, marts: str) -> str:
    """Each client's risk level on the marts' as-of date (the suitability check's input):
    the staging client version valid on that date, not the latest one, so a build `--as-of D`
    on an extract holding later re-assessments is judged by what held on D."""
    return ("select c.client_id, c.risk_level "
            f"from {staging}.stg_brokerage__clients as c, "
            f"(select max(as_of_date) as as_of_date from {marts}.client_segments) as a "
            "where cast(c.updated_at as date) <= a.as_of_date "
            "and (c.valid_to is null or cast(c.valid_to as date) > a.as_of_date)")


def _group_catalogue(mem: MemoryDb, db: Path | None) -> list[str]:
    """Group codes from the rules seed in the warehouse when there is one, else the spec's."""
    if db is not None:
        for (table,) in mem.rows(
                "select table_name from information_schema.columns where table_catalog = 'wh' "
                "and table_schema = 'rules' and column_name = 'group_code' "
                "and table_name like '%group%' order by table_name <> 'rule_groups', 1"):
            codes = [r[0] for r in mem.rows(f'select distinct group_code from wh.rules."{table}" '
                                            "where group_code is not null")]
            if codes:
                return sorted({*codes, "mass"})
    return list(GROUP_CODES)


# ---------------------------------------------------------------------------------------
# Writing the file context (review artefacts) — `python -m kequn.gates sync`
# ---------------------------------------------------------------------------------------
def _context(root: Path):
    _quiet_gx_env()
    _patch_gx_for_duckdb()
    import great_expectations as gx

    return gx.get_context(mode="file", project_root_dir=str(root))


def _signature(exps: list) -> list[tuple]:
    out = []
    for e in exps:
        cfg = e.configuration.to_json_dict()
        out.append((cfg["type"], json.dumps(cfg["kwargs"], sort_keys=True, default=str),
                    getattr(e, "description", None) or ""))
    return out


def sync(root: Path = EXPECTATIONS_DIR) -> Path:
    """(Re)write suites, validation definitions and checkpoints as JSON under <root>/gx/."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    raw_mem, marts_mem = MemoryDb("raw_sync"), MemoryDb("marts_sync")
    os.environ[RAW_URL_VAR], os.environ[MARTS_URL_VAR] = raw_mem.url, marts_mem.url
    try:
        _create_raw_profiles(raw_mem, None)
        load_params(raw_mem, load_thresholds())
        _create_marts_views(marts_mem, None, {})
        load_params(marts_mem, load_thresholds())
        ctx = _context(root)
        ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
        ctx.variables.save()
        layers = {
            "raw": ("${" + RAW_URL_VAR + "}", {t: raw_expectations(t) for t in RAW_SPEC}),
            "marts": ("${" + MARTS_URL_VAR + "}", marts_expectations()),
        }
        for layer, (url, suites) in layers.items():
            try:
                ds = ctx.data_sources.get(layer)
            except (KeyError, LookupError, ValueError):
                ds = ctx.data_sources.add_sql(layer, connection_string=url)
            vds = []
            for asset_name, exps in suites.items():
                try:
                    asset = ds.get_asset(asset_name)
                except LookupError:
                    asset = ds.add_table_asset(asset_name, table_name=asset_name)
                try:
                    bd = asset.get_batch_definition("whole_table")
                except (KeyError, LookupError):
                    bd = asset.add_batch_definition_whole_table("whole_table")
                name = f"{layer}.{asset_name}"
                try:
                    suite = ctx.suites.get(name)
                except Exception:
                    suite = ctx.suites.add(gx.ExpectationSuite(name=name))
                if _signature(suite.expectations) != _signature(exps):
                    # Changed suites only, so unchanged files (and their ids) stay put.
                    for old in list(suite.expectations):
                        suite.delete_expectation(old)
                    suite.meta["layer"] = layer
                    suite.meta["asset"] = asset_name
                    for e in exps:
                        suite.add_expectation(e)
                    suite.save()
                vds.append(ctx.validation_definitions.add_or_update(
                    gx.ValidationDefinition(name=name, data=bd, suite=suite)))
            ctx.checkpoints.add_or_update(gx.Checkpoint(
                name=layer, validation_definitions=vds,
                actions=[],   # Data Docs are built once per build (build_data_docs)
                result_format={"result_format": "COMPLETE", "partial_unexpected_count": 20},
            ))
    finally:
        raw_mem.close()
        marts_mem.close()
    return root / "gx"


# ---------------------------------------------------------------------------------------
# Running a gate
# ---------------------------------------------------------------------------------------
@dataclass
class Finding:
    suite: str
    asset: str
    column: str | None
    expectation: str
    description: str
    observed: Any
    sample: list[Any] = field(default_factory=list)

    def line(self) -> str:
        where = f"{self.asset}.{self.column}" if self.column else self.asset
        if len(self.sample) == 1 and isinstance(self.sample[0], dict) \
                and "offending_values" in self.sample[0]:
            first = self.sample[0]
            values = [v for v in first["offending_values"] or [] if v is not None]
            return (f"{where}: {self.expectation} failed — {first.get('bad_rows')} of "
                    f"{first.get('filled_rows')} filled values fail ({first.get('check_kind')}"
                    f"); offending values: {json.dumps(values, ensure_ascii=False)}")
        sample = json.dumps(self.sample[:3], ensure_ascii=False, default=str)
        return (f"{where}: {self.expectation} failed — {self.description} "
                f"(observed {self.observed}; sample {sample})")


@dataclass
class GateResult:
    layer: str
    success: bool
    seconds: float
    evaluated: int = 0
    findings: list[Finding] = field(default_factory=list)
    results: list[dict] = field(default_factory=list)
    data_docs: Path | None = None
    error: str | None = None

    def lines(self) -> list[str]:
        state = "passed" if self.success else "FAILED"
        out = [f"{self.layer} gate {state}: {self.evaluated - len(self.findings)}/"
               f"{self.evaluated} expectations met in {self.seconds:.1f}s"]
        if self.error:
            out.append(f"  {self.error}")
        out += [f"  - {f.line()}" for f in self.findings[:30]]
        if len(self.findings) > 30:
            out.append(f"  ... and {len(self.findings) - 30} more (see the build report)")
        return out


def _column_of(exp: dict, rows: list) -> str | None:
    kw = exp.get("kwargs", {})
    if kw.get("column"):
        return kw["column"]
    if kw.get("column_list"):
        return ",".join(kw["column_list"])
    if rows and isinstance(rows[0], dict) and rows[0].get("column_name"):
        return str(rows[0]["column_name"])
    m = re.search(r"raw \w+\.(\w+):", exp.get("description") or "")
    return m.group(1) if m else None


def _sample(result: dict) -> list[Any]:
    details = result.get("details") or {}
    if "unexpected_rows" in details:
        rows = details["unexpected_rows"]
        return [dict(r) if not isinstance(r, dict) else r for r in rows][:20]
    if result.get("partial_unexpected_counts"):
        return result["partial_unexpected_counts"][:20]
    if result.get("partial_unexpected_list"):
        return result["partial_unexpected_list"][:20]
    if "details" in result and isinstance(details, dict) and details.get("mismatched"):
        return [details["mismatched"]]
    return []


def _collect(layer: str, cp_result, seconds: float) -> GateResult:
    gate = GateResult(layer=layer, success=bool(cp_result.success), seconds=seconds)
    for vr in cp_result.run_results.values():
        d = vr.to_json_dict()
        suite = d["suite_name"]
        asset = suite.split(".", 1)[1]
        for r in d["results"]:
            exp = r["expectation_config"]
            res = r.get("result") or {}
            sample = _sample(res)
            observed = res.get("observed_value")
            if observed is None and "unexpected_count" in res:
                pct = res.get("unexpected_percent") or 0
                observed = (f"{res.get('unexpected_count')} unexpected of "
                            f"{res.get('element_count')} ({pct:.2f}%)")
            if r.get("exception_info", {}).get("raised_exception"):
                observed = "error: " + str(r["exception_info"].get("exception_message"))[:300]
            row = {
                "suite": suite, "asset": asset, "column": _column_of(exp, sample),
                "expectation": exp["type"], "description": exp.get("description") or "",
                "success": bool(r["success"]), "observed": observed,
            }
            gate.results.append(row)
            gate.evaluated += 1
            if r["success"]:
                continue
            per_column = [x for x in sample if isinstance(x, dict) and "column_name" in x]
            if per_column and len({x["column_name"] for x in per_column}) == len(per_column):
                for x in per_column:
                    gate.findings.append(Finding(
                        suite=suite, asset=asset, column=str(x["column_name"]),
                        expectation=exp["type"], description=row["description"],
                        observed=(f"{x.get('bad_rows')} of {x.get('filled_rows')} filled "
                                  "values fail" if x.get("bad_rows") is not None
                                  else row["observed"]), sample=[x]))
            else:
                gate.findings.append(Finding(
                    suite=suite, asset=asset, column=row["column"], expectation=exp["type"],
                    description=row["description"], observed=observed, sample=sample))
    return gate


@contextmanager
def _build_context(work_dir: Path) -> Iterator[Any]:
    """A private copy of the committed context for one build (results and docs go there)."""
    root = work_dir / "gx_context"
    if not (root / "gx").exists():
        shutil.copytree(GX_DIR, root / "gx",
                        ignore=shutil.ignore_patterns("uncommitted", "__pycache__"))
    ctx = _context(root)
    yield ctx


def run_checkpoint(layer: str, mem: MemoryDb, work_dir: Path,
                    params: dict[str, Any]) -> GateResult:
    os.environ[RAW_URL_VAR if layer == "raw" else MARTS_URL_VAR] = mem.url
    start = time.perf_counter()
    with _build_context(work_dir) as ctx:
        cp = ctx.checkpoints.get(layer)
        result = cp.run(expectation_parameters=params)
        gate = _collect(layer, result, time.perf_counter() - start)
        # Close GX's engines so the attached warehouse is released before publishing.
        for ds in ctx.data_sources.all().values():
            with suppress(Exception):
                eng = ds.get_execution_engine()
                if eng._connection is not None:
                    eng._connection.close()
                eng.engine.dispose()
            with suppress(Exception):
                ds.get_engine().dispose()
    return gate


def build_data_docs(work_dir: Path) -> Path | None:
    """Render GX Data Docs for this build's validation results, made readable offline."""
    from kequn.report import offline_data_docs

    root = work_dir / "gx_context"
    if not (root / "gx").exists():
        return None
    ctx = _context(root)
    ctx.build_data_docs()
    docs = root / "gx" / "uncommitted" / "data_docs" / "local_site"
    if not (docs / "index.html").exists():
        return None
    offline_data_docs(docs)
    return docs / "index.html"


def raw_bounds(thresholds: dict[str, Any], rows_before: dict[str, int] | None = None
               ) -> dict[str, float | None]:
    """`min_rows_<table>` / `max_rows_<table>` for gate_params: thresholds.yml's row_bounds
    (on all rows of a table) shifted by the rows each table held before the checked batch."""
    bounds = thresholds.get("row_bounds", {})
    default = bounds.get("default", {})
    out: dict[str, float | None] = {}
    for table in RAW_SPEC:
        b = {**default, **bounds.get(table, {})}
        had = (rows_before or {}).get(table, 0)
        out[f"min_rows_{table}"] = max(b.get("min", 1) - had, 0)
        out[f"max_rows_{table}"] = None if b.get("max") is None else b["max"] - had
    return out


def run_raw_gate(db: Path, work_dir: Path, thresholds: dict[str, Any],
                 new_batch: int | None = None,
                 rows_before: dict[str, int] | None = None) -> GateResult:
    """Run the raw checkpoint on the counts of the base models in `db` (built by dbt's
    first phase; attached read-only, only aggregates leave it): the typing pass already
    typed every value and named each broken rule, so nothing is read or parsed again.

    With `new_batch`, only the base rows of that landing batch are checked (a
    nightly build: every earlier batch passed this gate when it was published); the row
    bounds, which are on all rows of a table, are then shifted by `rows_before` (the rows
    each table held before the batch) onto the batch's rows."""
    mem = MemoryDb("raw")
    try:
        _create_raw_profiles(mem, db, new_batch)
        before = (rows_before or {}) if new_batch is not None else {}
        load_params(mem, thresholds, raw_bounds(thresholds, before))
        return run_checkpoint("raw", mem, work_dir, {})
    finally:
        mem.close()


def run_marts_gate(db: Path, work_dir: Path, thresholds: dict[str, Any],
                   landed: dict[str, int], since_batch: int | None = None,
                   manifest: Path | None = None) -> GateResult:
    """Run the marts checkpoint over the built warehouse, attached read-only. The PII scan
    reads what could hold raw text by the build's dbt `manifest` (everything without one;
    see kequn.pii_proof), in a nightly build scoped by `since_batch`."""
    mem = MemoryDb("marts")
    try:
        missing = _create_marts_views(mem, db, landed, since_batch, manifest)
        load_params(mem, thresholds)
        gate = run_checkpoint("marts", mem, work_dir, {})
        refuse_missing_marts(gate, missing, "the warehouse")
        with suppress(Exception):
            mem.run("detach wh")
        return gate
    finally:
        mem.close()


def refuse_missing_marts(gate: GateResult, missing: list[str], where: str) -> None:
    """A public mart absent from the build fails the marts gate, each one a finding."""
    if not missing:
        return
    gate.success = False
    gate.error = f"public marts missing from {where}: {', '.join(missing)}"
    for m in missing:
        gate.findings.insert(0, Finding("marts." + m, m, None, "mart_exists",
                                        "public mart must exist", "missing"))


def read_reconciliation(db: Path) -> list[dict]:
    import duckdb

    with suppress(duckdb.Error), duckdb.connect(str(db), read_only=True) as con:
        cur = con.execute("select * from marts.dq_reconciliation order by table_name")
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    return []


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["sync"]:
        root = Path(argv[1]) if len(argv) > 1 else EXPECTATIONS_DIR
        print(f"wrote {sync(root)}")
        return 0
    print("usage: python -m kequn.gates sync [ROOT]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
