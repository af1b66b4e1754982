"""kequn.engines.compare_rows: what the engine equality tests report."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from kequn.engines.compare_rows import compare_rows


def test_equal_rows_and_floats_within_tolerance_pass() -> None:
    left = [{"id": 1, "x": 0.1 + 0.2, "d": Decimal("1.50"), "day": dt.date(2025, 11, 30)}]
    right = [{"id": 1, "x": 0.3, "d": Decimal("1.5"), "day": dt.date(2025, 11, 30)}]
    assert compare_rows("t", left, right, ["id"], float_tolerance=1e-9) == []


def test_a_difference_names_table_key_column_and_both_values() -> None:
    left = [{"id": 1, "x": 1.0, "s": "a"}, {"id": 2, "x": 2.0, "s": "b"}]
    right = [{"id": 1, "x": 1.001, "s": "a"}, {"id": 3, "x": 2.0, "s": "b"}]
    problems = compare_rows("marts.t", left, right, ["id"], names=("duckdb", "spark"))
    assert problems == [
        "marts.t: key {'id': 2} only on duckdb",
        "marts.t: key {'id': 3} only on spark",
        "marts.t: key {'id': 1} column x: duckdb=1.0 spark=1.001",
    ]


def test_nulls_types_duplicates_and_ignored_columns() -> None:
    left = [{"id": 1, "n": None, "when": dt.datetime(2025, 1, 1), "at": 1}]
    right = [{"id": 1, "n": 0, "when": dt.date(2025, 1, 1), "at": 2},
             {"id": 1, "n": 0, "when": dt.date(2025, 1, 1), "at": 2}]
    problems = compare_rows("t", left, right, ["id"], ignore=["at"])
    assert problems[0] == "t: key {'id': 1} twice on right"
    assert {p.split(" column ")[1].split(":")[0] for p in problems[1:]} == {"n", "when"}
