"""Row-for-row equality of one table built by two engines (issue 10: DuckDB = Postgres = Spark).

Engine-neutral: rows come from any DB-API connection (duckdb, psycopg2, a Spark SQL cursor
wrapper) or as plain lists. Rows are matched by the table's key columns, so a difference is
named by table, key, column and both values, not by row position:

    from kequn.engines.compare import compare_tables, format_mismatches
    mismatches = compare_tables(duck_con, pg_con, {"marts.client_segments": ["client_id"]},
                                ignore={"marts.dq_reconciliation": ["built_at"]})
    assert not mismatches, format_mismatches(mismatches)

Floating-point values (a `float` on either side) are equal within `rel_tol` (default 1e-9,
plus `abs_tol` 1e-12 for values near zero): engines sum and divide doubles in different
orders. Everything else is exact: decimals by value (Decimal('1.50') == Decimal('1.5'), as
Postgres keeps no trailing zeros where DuckDB prints the column's scale), text, dates,
timestamps, booleans and nulls as they are.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

REL_TOL = 1e-9
ABS_TOL = 1e-12
ROW = "<row>"  # the column of a mismatch about a whole row (present on one side only)


@dataclass(frozen=True)
class Mismatch:
    """One difference: `column` is ROW when the key is on one side only (value None there)."""

    table: str
    key: tuple[Any, ...]
    column: str
    left: Any
    right: Any

    def __str__(self) -> str:
        return (f"{self.table} key={self.key!r} column {self.column}: "
                f"left={self.left!r} right={self.right!r}")


@dataclass(frozen=True)
class Rows:
    """A table's column names (lower case) and its rows, as fetched."""

    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]


def fetch_rows(con: Any, table: str, columns: Sequence[str] | None = None) -> Rows:
    """Every row of `table` (`schema.name`) through a DB-API connection; `columns` all when
    None. The order does not matter: compare_rows matches rows by key."""
    select = ", ".join(columns) if columns else "*"
    cur = con.cursor()
    try:
        cur.execute(f"select {select} from {table}")
        names = tuple(d[0].lower() for d in cur.description)
        return Rows(names, [tuple(r) for r in cur.fetchall()])
    finally:
        cur.close()


def values_equal(left: Any, right: Any, rel_tol: float = REL_TOL,
                 abs_tol: float = ABS_TOL) -> bool:
    """Exact, except that a float on either side is compared within the tolerance."""
    if left is None or right is None:
        return left is None and right is None
    if isinstance(left, float) or isinstance(right, float):
        if isinstance(left, bool) or isinstance(right, bool):
            return False
        try:
            a, b = float(left), float(right)
        except (TypeError, ValueError):
            return False
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return math.isclose(a, b, rel_tol=rel_tol, abs_tol=abs_tol)
    if type(left) is bool or type(right) is bool:
        return type(left) is type(right) and left == right
    return bool(left == right)


def _sort_key(key: tuple[Any, ...]) -> tuple[tuple[bool, str, str], ...]:
    # nulls first, then by type and text: keys of mixed types still sort deterministically
    return tuple((v is not None, type(v).__name__, str(v)) for v in key)


def compare_rows(table: str, left: Rows, right: Rows, key: Sequence[str],
                 ignore: Iterable[str] = (), rel_tol: float = REL_TOL,
                 abs_tol: float = ABS_TOL) -> list[Mismatch]:
    """Mismatches between two fetches of one table: columns present on one side only, keys
    present on one side only or repeated, and every differing value of a shared key."""
    ignored = {c.lower() for c in ignore}
    key = [k.lower() for k in key]
    out: list[Mismatch] = []
    for side, have, other in (("left", left, right), ("right", right, left)):
        for c in have.columns:
            if c not in other.columns and c not in ignored:
                out.append(Mismatch(table, (), c, *(("present", None) if side == "left"
                                                     else (None, "present"))))
    columns = [c for c in left.columns if c in right.columns and c not in ignored]

    def index(rows: Rows, side: str) -> dict[tuple[Any, ...], dict[str, Any]]:
        positions = [rows.columns.index(k) for k in key]
        by_key: dict[tuple[Any, ...], dict[str, Any]] = {}
        for row in rows.rows:
            k = tuple(row[p] for p in positions)
            if k in by_key:
                out.append(Mismatch(table, k, ROW, *(("repeated", None) if side == "left"
                                                     else (None, "repeated"))))
            by_key[k] = dict(zip(rows.columns, row, strict=True))
        return by_key

    left_rows, right_rows = index(left, "left"), index(right, "right")
    for k in sorted(left_rows.keys() | right_rows.keys(), key=_sort_key):
        a, b = left_rows.get(k), right_rows.get(k)
        if a is None or b is None:
            out.append(Mismatch(table, k, ROW, None if a is None else "present",
                                None if b is None else "present"))
            continue
        for c in columns:
            if not values_equal(a[c], b[c], rel_tol, abs_tol):
                out.append(Mismatch(table, k, c, a[c], b[c]))
    return out


def compare_tables(left_con: Any, right_con: Any, tables: Mapping[str, Sequence[str]],
                   ignore: Mapping[str, Sequence[str]] | None = None,
                   rel_tol: float = REL_TOL, abs_tol: float = ABS_TOL) -> list[Mismatch]:
    """compare_rows for each `table -> key columns`, fetched from both connections."""
    out: list[Mismatch] = []
    for table, key in tables.items():
        out += compare_rows(table, fetch_rows(left_con, table), fetch_rows(right_con, table),
                            key, (ignore or {}).get(table, ()), rel_tol, abs_tol)
    return out


def format_mismatches(mismatches: Sequence[Mismatch], limit: int = 50) -> str:
    """The first `limit` mismatches, one a line, and how many there were in all."""
    lines = [str(m) for m in mismatches[:limit]]
    if len(mismatches) > limit:
        lines.append(f"... and {len(mismatches) - limit} more")
    return f"{len(mismatches)} mismatches:\n" + "\n".join(lines)
