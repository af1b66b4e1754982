"""The raw and marts gates of a Postgres build: the same GX checkpoints as on DuckDB.

The suites (expectations/gx/, specs in kequn/gx_suites.py) run, as on DuckDB, against an
in-memory DuckDB database (kequn.gates.MemoryDb); only what they judge comes from Postgres:

* raw   — each base model's profile (one grouped pass per table, kequn.gx_suites
  .raw_profile_sql in its Postgres spelling) computed *in Postgres* over the build's
  `staging__build` schema; only the profile rows (a few dozen per table) leave it;
* marts — the public marts of `marts__build`, streamed with `COPY ... TO STDOUT` (they hold
  no PII: the suite proves it), the current clients' risk levels for the suitability
  check, the group catalogue of `rules__build`, the rows each raw table loaded
  (`raw._files`), the column names of every schema and the PII value scan, which runs in
  Postgres over the tables that read raw text (kequn.pii_proof, `Where.postgres`).

Not checked on Postgres, and why: the column names of schema `raw` — pg_load's copy of the
delivery, which holds `id_number` as delivered (DECISIONS.md, "Postgres port: PII").
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kequn.engines.postgres import connect
from kequn.gates import (
    GateResult,
    MemoryDb,
    client_risk_levels_sql,
    load_params,
    raw_bounds,
    refuse_missing_marts,
    run_checkpoint,
)
from kequn.gx_suites import (
    GROUP_CODES,
    PROFILE_COLUMNS,
    PUBLIC_MARTS,
    RAW_SPEC,
    base_model,
    raw_profile_sql,
    raw_profile_sql_empty,
)
from kequn.pii_proof import Where, pii_scan_sql
from kequn.sql import sql_str

# Postgres type oid -> DuckDB type of the copy (anything else is read as text)
_DUCK_TYPES = {16: "boolean", 20: "bigint", 21: "bigint", 23: "bigint", 700: "float",
               701: "double", 1700: "double", 1082: "date", 1114: "timestamp",
               1184: "timestamptz"}
NOT_SCANNED_SCHEMAS = ("raw",)


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _relations(cur: Any, schema: str) -> dict[str, set[str]]:
    """{table: {column, ...}} of one schema."""
    cur.execute("select table_name, column_name from information_schema.columns "
                "where table_schema = %s", (schema,))
    found: dict[str, set[str]] = {}
    for table, column in cur.fetchall():
        found.setdefault(table, set()).add(column)
    return found


def _copy_into(cur: Any, mem: MemoryDb, sql: str, name: str, work_dir: Path) -> int:
    """Create table `name` in `mem` holding the rows of the Postgres query `sql` (COPY as CSV
    through a file in the build folder, removed at once); returns its rows."""
    cur.execute(f"select * from ({sql}) as q limit 0")
    columns = {d.name: _DUCK_TYPES.get(d.type_code, "varchar") for d in cur.description}
    path = work_dir / f"_copy_{name}.csv"
    try:
        with path.open("wb") as fh:
            cur.copy_expert(f"copy ({sql}) to stdout with (format csv, header true)", fh)
        spec = "{" + ", ".join(f"{sql_str(c)}: {sql_str(t)}" for c, t in columns.items()) + "}"
        mem.run(f"create or replace table {_q(name)} as select * from read_csv("
                f"{sql_str(str(path))}, header = true, columns = {spec}, "
                "allow_quoted_nulls = false, auto_detect = false)")
    finally:
        path.unlink(missing_ok=True)
    return mem.rows(f"select count(*) from {_q(name)}")[0][0]


def _insert_profile(mem: MemoryDb, table: str, rows: list[tuple]) -> None:
    mem.run(f"create or replace table {table} as {raw_profile_sql_empty(table)} limit 0")
    if not rows:  # a base model with no rows
        return
    values = []
    for row in rows:
        cells = []
        for value in row:
            if value is None:
                cells.append("null")
            elif isinstance(value, bool):
                cells.append("true" if value else "false")
            elif isinstance(value, int):
                cells.append(str(value))
            elif isinstance(value, list):
                cells.append("[" + ", ".join(sql_str(str(v)) for v in value) + "]::varchar[]")
            else:
                cells.append(sql_str(str(value)))
        values.append("(" + ", ".join(cells) + ")")
    mem.run(f"insert into {table} ({', '.join(PROFILE_COLUMNS)}) values " + ", ".join(values))


def raw_gate(staging: str, work_dir: Path, thresholds: dict[str, Any],
             env: dict[str, str] | None = None) -> GateResult:
    """The raw checkpoint on the profiles of the base models in schema `staging`."""
    mem = MemoryDb("pg_raw")
    con = connect(env)
    try:
        with con.cursor() as cur:
            bases = _relations(cur, staging)
            for table in RAW_SPEC:
                columns = bases.get(base_model(table))
                if columns is None:  # nothing typed: the profile says every column is absent
                    mem.run(f"create or replace table {table} as {raw_profile_sql_empty(table)}")
                    continue
                relation = f"{_q(staging)}.{_q(base_model(table))}"
                cur.execute(raw_profile_sql(table, relation, columns, dialect="postgres"))
                _insert_profile(mem, table, cur.fetchall())
        load_params(mem, thresholds, raw_bounds(thresholds))
        return run_checkpoint("raw", mem, work_dir, {})
    finally:
        con.close()
        mem.close()


def marts_gate(schemas: dict[str, str], work_dir: Path, thresholds: dict[str, Any],
               manifest: Path | None, env: dict[str, str] | None = None) -> GateResult:
    """The marts checkpoint on the build's schemas (`schemas`: published name -> the
    build's schema, e.g. "marts" -> "marts__build")."""
    mem = MemoryDb("pg_marts")
    con = connect(env)
    work_dir.mkdir(parents=True, exist_ok=True)
    try:
        with con.cursor() as cur:
            marts, staging = schemas["marts"], schemas["staging"]
            present = _relations(cur, marts)
            missing = [m for m in PUBLIC_MARTS if m not in present]
            for mart in PUBLIC_MARTS:
                if mart in present:
                    _copy_into(cur, mem, f"select * from {_q(marts)}.{_q(mart)}", mart, work_dir)
                else:
                    mem.run(f"create or replace view {mart} as "
                            "select null as missing_mart where false")
            skipped = ", ".join(sql_str(s) for s in
                                ("pg_catalog", "information_schema", *NOT_SCANNED_SCHEMAS))
            _copy_into(cur, mem, "select table_catalog::text, table_schema::text, "
                       "table_name::text, column_name::text, data_type::text "
                       "from information_schema.columns "
                       f"where table_schema not in ({skipped}) "
                       "and table_schema not like 'pg\\_%'", "warehouse_columns", work_dir)
            has_clients = "stg_brokerage__clients" in _relations(cur, staging)
            if has_clients and "client_segments" in present:
                _copy_into(cur, mem, client_risk_levels_sql(_q(staging), _q(marts)),
                           "client_risk_levels", work_dir)
            else:
                mem.run("create or replace table client_risk_levels "
                        "(client_id varchar, risk_level varchar)")
            mem.run("create or replace table known_group_codes (code varchar)",
                    "insert into known_group_codes values "
                    + ", ".join(f"({sql_str(g)})" for g in _group_codes(cur, schemas["rules"])))
            cur.execute("select table_name, sum(rows_loaded)::bigint from raw._files group by 1")
            landed = cur.fetchall() or [("none", 0)]
            mem.run("create or replace table landed_counts (table_name varchar, "
                    "landed_rows bigint)", "insert into landed_counts values "
                    + ", ".join(f"({sql_str(t)}, {int(n)})" for t, n in landed))

            def rows(sql: str) -> list[tuple]:
                cur.execute(sql)
                return cur.fetchall()

            scan = pii_scan_sql(rows, None, manifest, Where.postgres(list(schemas.values())))
            _copy_into(cur, mem, scan, "pii_value_hits", work_dir)
        load_params(mem, thresholds)
        gate = run_checkpoint("marts", mem, work_dir, {})
        refuse_missing_marts(gate, missing, marts)
        return gate
    finally:
        con.close()
        mem.close()


def _group_codes(cur: Any, rules: str) -> list[str]:
    """The rules seed's group codes and mass (the spec's codes when the seed is absent)."""
    cur.execute("select 1 from information_schema.tables "
                "where table_schema = %s and table_name = 'rule_groups'", (rules,))
    if cur.fetchone():
        cur.execute(f"select distinct group_code from {_q(rules)}.rule_groups "
                    "where group_code is not null")
        codes = [r[0] for r in cur.fetchall()]
        if codes:
            return sorted({*codes, "mass"})
    return list(GROUP_CODES)
