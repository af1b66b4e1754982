"""Row-for-row comparison of one table as two engines built it.

Engine-neutral: each side is a list of row dicts (column -> Python value), as any engine's
client returns them. Rows are matched on their key columns; every other column is compared
exactly, except floating-point values (a float on either side), which may differ by at most
`float_tolerance` relative to the larger magnitude (absolute below 1). Decimals compare by
value (`Decimal('1.50') == 1.5`), a date equals a midnight datetime of the same day only when
both are dates. Each mismatch is one line naming table, key, column and both values.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

Row = Mapping[str, Any]


def _close(a: Any, b: Any, float_tolerance: float) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float) or isinstance(b, float):
        if not isinstance(a, (int, float, Decimal)) or not isinstance(b, (int, float, Decimal)):
            return False
        fa, fb = float(a), float(b)
        if math.isnan(fa) or math.isnan(fb):
            return math.isnan(fa) and math.isnan(fb)
        return abs(fa - fb) <= float_tolerance * max(1.0, abs(fa), abs(fb))
    if isinstance(a, (int, Decimal)) and isinstance(b, (int, Decimal)) \
            and not isinstance(a, bool) and not isinstance(b, bool):
        return Decimal(a) == Decimal(b)
    if isinstance(a, dt.datetime) != isinstance(b, dt.datetime):
        return False
    return a == b


def _key(key: Sequence[str], values: tuple) -> dict[str, Any]:
    return dict(zip(key, values, strict=True))


def _index(rows: Iterable[Row], key: Sequence[str], side: str, table: str,
           problems: list[str]) -> dict[tuple, Row]:
    out: dict[tuple, Row] = {}
    for row in rows:
        k = tuple(row[c] for c in key)
        if k in out:
            problems.append(f"{table}: key {_key(key, k)} twice on {side}")
        out[k] = row
    return out


def compare_rows(table: str, left: Iterable[Row], right: Iterable[Row], key: Sequence[str], *,
                 float_tolerance: float = 1e-9, names: tuple[str, str] = ("left", "right"),
                 ignore: Sequence[str] = ()) -> list[str]:
    """Every difference between `left` and `right` (empty when equal row for row): rows on
    one side only, duplicate keys, a column on one side only, and each differing value."""
    problems: list[str] = []
    a = _index(left, key, names[0], table, problems)
    b = _index(right, key, names[1], table, problems)
    for k in sorted(a.keys() - b.keys(), key=repr):
        problems.append(f"{table}: key {_key(key, k)} only on {names[0]}")
    for k in sorted(b.keys() - a.keys(), key=repr):
        problems.append(f"{table}: key {_key(key, k)} only on {names[1]}")
    columns_seen: set[str] = set()
    for k in sorted(a.keys() & b.keys(), key=repr):
        ra, rb = a[k], b[k]
        columns = (set(ra) | set(rb)) - set(key) - set(ignore)
        for column in sorted(columns):
            if column not in ra or column not in rb:
                if column not in columns_seen:
                    side = names[1] if column not in ra else names[0]
                    problems.append(f"{table}: column {column} only on {side}")
                columns_seen.add(column)
                continue
            if not _close(ra[column], rb[column], float_tolerance):
                problems.append(
                    f"{table}: key {_key(key, k)} column {column}: "
                    f"{names[0]}={ra[column]!r} {names[1]}={rb[column]!r}")
    return problems
