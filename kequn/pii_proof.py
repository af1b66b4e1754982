"""The "no PII anywhere" proof: what personal data looks like, and the scan that finds it.

Column names (name, phone, id_number) and value shapes (an 18-character PRC resident ID,
an 11-digit mainland mobile number) that must appear in no table of the warehouse; the SQL
that scans the attached warehouse (`wh`) for them. kequn/gx_suites.py turns the result into
expectations; kequn/gates.py runs them.

What is scanned (expectations/README.md, "The PII proof: what is scanned and why"): text
enters the warehouse from a delivery only through the models that read the raw extract (the
base models, and any model that reads a dbt source); every other model copies, types, hashes
or maps to seed codes what those hold. So, given the build's dbt manifest, the scan reads
* every varchar column of every table that reads raw text (the base models: their `*_raw`
  columns, reject values, free text, ids, file names), but for the project's own labels;
* every varchar column of every table the manifest does not know (dbt's stored test
  failures, anything written to the warehouse outside this project): unknown lineage;
and skips the tables of models that read only other models and seeds. Without a manifest
every varchar column of every base table is scanned (the whole-warehouse proof).
Column *names* are checked in every table and view of every schema, whatever the scope.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kequn.sql import sql_str

PII_COLUMN_NAMES = ("name", "phone", "id_number")
# 18-char PRC resident ID (area, YYYYMMDD birth date, sequence, check char) and CN mobile.
ID_PATTERN = (r"^[1-9][0-9]{5}(18|19|20)[0-9]{2}(0[1-9]|1[0-2])(0[1-9]|[12][0-9]|3[01])"
              r"[0-9]{3}[0-9Xx]$")
MOBILE_PATTERN = r"^(\+?86)?1[3-9][0-9]{9}$"
# The models that type the raw extract (also found as readers of a dbt source).
RAW_READER_PATH = "staging/brokerage/base/"
# Values the project computes in a raw reader, never text from the delivery: a salted hash
# and the reject labels (reason, column name) of the reject rules.
PROJECT_LABELS = ("person_key", "_reject_reason", "_reject_column")

Rows = Callable[[str], list[tuple]]


@dataclass(frozen=True)
class Where:
    """Where the scanned warehouse is and how its SQL is spelled: DuckDB's attached `wh`
    (the default), or a Postgres database's build schemas (`Where.postgres(schemas)`)."""

    catalog: str = "c.table_catalog = 'wh'"
    text_types: str = "('VARCHAR')"
    prefix: str = "wh."
    postgres_: bool = False

    @classmethod
    def postgres(cls, schemas: list[str]) -> Where:
        listed = ", ".join(sql_str(s) for s in schemas)
        return cls(catalog=f"c.table_schema in ({listed})",
                   text_types="('text', 'character varying')", prefix="", postgres_=True)

    def matches(self, value: str, pattern: str) -> str:
        return f"{value} ~ {pattern}" if self.postgres_ else f"regexp_matches({value}, {pattern})"

    def strip(self, value: str, chars: str) -> str:
        return f"btrim({value}, {chars})" if self.postgres_ else f"trim({value}, {chars})"

    def sample(self, value: str) -> str:
        # Postgres 15 has no any_value: the least one is as good a sample
        return f"min({value})" if self.postgres_ else f"any_value({value})"


def raw_text_tables(manifest: Path | None) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    """({(schema, table)} of models that read raw text, {(schema, table)} of every model and
    seed the manifest builds); both empty without a manifest."""
    if manifest is None or not manifest.exists():
        return set(), set()
    doc = json.loads(manifest.read_text(encoding="utf-8"))
    readers: set[tuple[str, str]] = set()
    known: set[tuple[str, str]] = set()
    for node in doc.get("nodes", {}).values():
        if node.get("resource_type") not in ("model", "seed", "snapshot"):
            continue
        relation = (node["schema"], node.get("alias") or node["name"])
        known.add(relation)
        reads_source = any(d.startswith("source.")
                           for d in node.get("depends_on", {}).get("nodes", []))
        if reads_source or str(node.get("path", "")).startswith(RAW_READER_PATH):
            readers.add(relation)
    return readers, known


def scan_scope(rows: Rows, manifest: Path | None,
               where: Where = Where()) -> dict[tuple[str, str], list[str]]:
    """{(schema, table): [varchar column, ...]} the scan reads (see the module docstring)."""
    cols = rows(
        "select c.table_schema, c.table_name, c.column_name from information_schema.columns c "
        "join information_schema.tables t using (table_catalog, table_schema, table_name) "
        f"where {where.catalog} and c.data_type in {where.text_types} "
        "and t.table_type = 'BASE TABLE' "
        "and c.table_schema not in ('information_schema', 'pg_catalog') "
        "order by 1, 2, c.ordinal_position")
    readers, known = raw_text_tables(manifest)
    scope: dict[tuple[str, str], list[str]] = {}
    for schema, table, column in cols:
        key = (schema, table)
        if manifest is not None and key in known and key not in readers:
            continue    # a model of models and seeds: its text was scanned where it entered
        if key in readers and column in PROJECT_LABELS:
            continue
        scope.setdefault(key, []).append(column)
    return scope


def pii_scan_sql(rows: Rows, since_batch: int | None = None,
                 manifest: Path | None = None, where: Where = Where()) -> str:
    """One pass per scanned table: per column, the values that are wholly an 18-char resident
    ID or an 11-digit mobile (trimmed), counted and one masked sample kept. Views are not
    scanned (they only recompute what the tables hold; their column *names* are checked by
    the warehouse_columns suite).

    With `since_batch` (a nightly build), a table carrying `_batch_id` (raw lineage: the
    base and staging tables, the history marts) is scanned only in the rows of that batch and
    later: its older rows were scanned when the build that wrote them was published, and
    are rewritten since only by the same code from the same raw rows (a code change is
    deployed with --full-refresh, which scans everything). Other tables are scanned whole."""
    lineage = {(r[0], r[1]) for r in rows(
        "select c.table_schema, c.table_name from information_schema.columns c "
        f"where {where.catalog} and c.column_name = '_batch_id'")} if since_batch else set()
    ident, mobile = sql_str(ID_PATTERN), sql_str(MOBILE_PATTERN)
    parts = []
    for (schema, table), columns in scan_scope(rows, manifest, where).items():
        values = ", ".join(f'trim("{c}") as v{i}' for i, c in enumerate(columns))
        aggs, picks, shapes = [], [], []
        for i, c in enumerate(columns):
            # digits only (an ID may end in X, a mobile start with +): a cheap filter
            # before the regular expressions, which then see almost no value
            shaped = _shaped(f"v{i}", where)
            shapes.append(shaped)
            is_id = f"{shaped} and {where.matches(f'v{i}', ident)}"
            is_mobile = (f"{shaped} and not {where.matches(f'v{i}', ident)} "
                         f"and {where.matches(f'v{i}', mobile)}")
            masked = f"substr(v{i}, 1, 3) || repeat('*', length(v{i}) - 5) || right(v{i}, 2)"
            aggs.append(f"count(*) filter (where {is_id}) as id_{i}, "
                        f"{where.sample(masked)} filter (where {is_id}) as id_sample_{i}, "
                        f"count(*) filter (where {is_mobile}) as mobile_{i}, "
                        f"{where.sample(masked)} filter (where {is_mobile}) as mobile_sample_{i}")
            for kind, pattern in (("id", "resident_id_18"), ("mobile", "mobile_11")):
                picks.append(f"select {sql_str(schema)}, {sql_str(table)}, {sql_str(c)}, "
                             f"'{pattern}', {kind}_{i}, {kind}_sample_{i} from hits "
                             f"where {kind}_{i} > 0")
        # The rows where some value has the shape, as a filter of the scan itself: DuckDB
        # then short-circuits, while the aggregates' filters below would evaluate the
        # regular expressions and the masking on every row (45 s against 5 s at scale 1).
        batch = (f" where _batch_id >= {int(since_batch)}"
                 if (schema, table) in lineage else "")
        parts.append(
            f"(with hits as materialized (select {', '.join(aggs)} from (select {values} "
            f'from {where.prefix}"{schema}"."{table}"{batch}) as vs where '
            + " or ".join(shapes) + ") "
            + " union all ".join(picks) + ")")
    if not parts:
        return pii_scan_sql_empty()
    return ("select * from (\n" + "\nunion all\n".join(parts) + "\n) as s (table_schema, "
            "table_name, column_name, pattern, hits, sample_value)")


def _shaped(value: str, where: Where = Where()) -> str:
    """SQL: the (trimmed) value could be an ID or a mobile: 11 to 18 characters, all digits
    but for `+`, `X` and `x`."""
    kept = where.strip(value, "'+0123456789Xx'")
    return f"length({value}) between 11 and 18 and {kept} = ''"


def pii_scan_sql_empty() -> str:
    return ("select cast(null as varchar) as table_schema, cast(null as varchar) as table_name, "
            "cast(null as varchar) as column_name, cast(null as varchar) as pattern, 0 as hits, "
            "cast(null as varchar) as sample_value where false")
