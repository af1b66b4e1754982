"""The "no PII anywhere" proof: what personal data looks like, and the scan that finds it.

Column names (name, phone, id_number) and value shapes (an 18-character PRC resident ID,
an 11-digit mainland mobile number) that must appear in no table of the warehouse; the SQL
that scans every varchar value of every base table of the attached warehouse (`wh`) for
them. kequn/gx_suites.py turns the result into expectations; kequn/gates.py runs them.
"""

from __future__ import annotations

from collections.abc import Callable

from kequn.sql import sql_str

PII_COLUMN_NAMES = ("name", "phone", "id_number")
# 18-char PRC resident ID (area, YYYYMMDD birth date, sequence, check char) and CN mobile.
ID_PATTERN = (r"^[1-9][0-9]{5}(18|19|20)[0-9]{2}(0[1-9]|1[0-2])(0[1-9]|[12][0-9]|3[01])"
              r"[0-9]{3}[0-9Xx]$")
MOBILE_PATTERN = r"^(\+?86)?1[3-9][0-9]{9}$"


def pii_scan_sql(rows: Callable[[str], list[tuple]], since_batch: int | None = None) -> str:
    """One scan per table: every varchar column of every base table of the attached warehouse,
    unpivoted, checked against both patterns. Views are not scanned (they only recompute
    what the tables hold; their column *names* are checked by the warehouse_columns suite).

    With `since_batch` (a nightly build), a table carrying `_batch_id` (landing lineage:
    every staging table, the history marts) is scanned only in the rows of that batch and
    later: its older rows were scanned when the build that wrote them was published, and
    are rewritten since only by the same code from the same landed rows (a code change is
    deployed with --full-refresh, which scans everything). Other tables are scanned whole."""
    lineage = {(r[0], r[1]) for r in rows(
        "select table_schema, table_name from information_schema.columns "
        "where table_catalog = 'wh' and column_name = '_batch_id'")} if since_batch else set()
    cols = rows(
        "select c.table_schema, c.table_name, c.column_name from information_schema.columns c "
        "join information_schema.tables t using (table_catalog, table_schema, table_name) "
        "where c.table_catalog = 'wh' and c.data_type = 'VARCHAR' "
        "and t.table_type = 'BASE TABLE' "
        "and c.table_schema not in ('information_schema', 'pg_catalog') "
        "order by 1, 2, c.ordinal_position")
    by_table: dict[tuple[str, str], list[str]] = {}
    for schema, table, column in cols:
        by_table.setdefault((schema, table), []).append(column)
    ident, mobile = sql_str(ID_PATTERN), sql_str(MOBILE_PATTERN)
    parts = []
    for (schema, table), columns in by_table.items():
        quoted = ", ".join(f'"{c}"' for c in columns)
        parts.append(
            f"select {sql_str(schema)} as table_schema, {sql_str(table)} as table_name, "
            "column_name, case when regexp_matches(v, " + ident + ") then 'resident_id_18' "
            "else 'mobile_11' end as pattern, count(*) as hits, "
            "any_value(substr(v, 1, 3) || repeat('*', length(v) - 5) || right(v, 2)) "
            "as sample_value "
            f'from (unpivot (select {quoted} from wh."{schema}"."{table}"'
            + (f" where _batch_id >= {int(since_batch)}" if (schema, table) in lineage else "")
            + f") on {quoted} "
            "into name column_name value raw_value), lateral (select trim(raw_value) as v) "
            "where length(v) between 11 and 18 "
            f"and (regexp_matches(v, {ident}) or regexp_matches(v, {mobile})) "
            "group by all")
    if not parts:
        return pii_scan_sql_empty()
    return "\nunion all\n".join(parts)


def pii_scan_sql_empty() -> str:
    return ("select cast(null as varchar) as table_schema, cast(null as varchar) as table_name, "
            "cast(null as varchar) as column_name, cast(null as varchar) as pattern, 0 as hits, "
            "cast(null as varchar) as sample_value where false")
