"""The raw extract contract, read from the dbt sources file (its single home)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml

from kequn import PROJECT_DIR

SOURCES_FILE = PROJECT_DIR / "models" / "staging" / "brokerage" / "_brokerage__sources.yml"
LINEAGE_COLUMNS = ("_source_file", "_row_in_file", "_batch_id", "_landed_at")


@cache
def raw_tables(sources_file: Path = SOURCES_FILE) -> dict[str, tuple[str, ...]]:
    """Return {table: (column, ...)} in contract order for the `brokerage` source."""
    doc = yaml.safe_load(sources_file.read_text(encoding="utf-8"))
    (source,) = [s for s in doc["sources"] if s["name"] == "brokerage"]
    return {t["name"]: tuple(c["name"] for c in t["columns"]) for t in source["tables"]}
