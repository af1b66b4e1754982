"""SQL text: quoting a value as a SQL string literal (DuckDB and standard SQL)."""

from __future__ import annotations

from pathlib import Path


def sql_str(value: str | Path) -> str:
    """`value` as a single-quoted SQL literal, quotes doubled."""
    return "'" + str(value).replace("'", "''") + "'"
