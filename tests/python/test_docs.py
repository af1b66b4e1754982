"""The repository's documents agree with the code they describe, and link only into the repo.

- docs/raw_extracts.md (the raw contract) and models/staging/brokerage/_brokerage__sources.yml
  (what landing checks files against) list the same tables and columns, both ways;
- docs/segmentation.md (the business spec) names the groups, priorities and Chinese names,
  and the tier, band and stage codes, that seeds/rules/ holds;
- every Markdown document links only to files that exist inside the repository.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
import yaml

from kequn import PROJECT_DIR

CONTRACT = PROJECT_DIR / "docs" / "raw_extracts.md"
SPEC = PROJECT_DIR / "docs" / "segmentation.md"
SOURCES = PROJECT_DIR / "models" / "staging" / "brokerage" / "_brokerage__sources.yml"
RULES = PROJECT_DIR / "seeds" / "rules"


def _markdown_tables(text: str) -> list[tuple[str, list[dict[str, str]]]]:
    """Every pipe table in a Markdown text, with the heading above it: (heading, rows)."""
    out: list[tuple[str, list[dict[str, str]]]] = []
    heading, lines = "", text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
        is_header = (line.startswith("|") and i + 1 < len(lines)
                     and re.fullmatch(r"\|(\s*:?-+:?\s*\|)+", lines[i + 1].strip()))
        if not is_header:
            i += 1
            continue
        cols = [c.strip() for c in line.strip().strip("|").split("|")]
        rows, i = [], i + 2
        while i < len(lines) and lines[i].startswith("|"):
            cells = [c.strip() for c in lines[i].strip().strip("|").split("|")]
            rows.append(dict(zip(cols, cells, strict=False)))
            i += 1
        out.append((heading, rows))
    return out


def contract_columns(text: str) -> dict[str, list[str]]:
    """Table -> columns, from the `### <table> — ...` sections' column tables."""
    tables: dict[str, list[str]] = {}
    for heading, rows in _markdown_tables(text):
        if not rows or "column" not in rows[0]:
            continue
        name = heading.split()[0]
        tables.setdefault(name, []).extend(r["column"] for r in rows)
    return tables


def sources_columns() -> dict[str, list[str]]:
    doc = yaml.safe_load(SOURCES.read_text(encoding="utf-8"))
    return {t["name"]: [c["name"] for c in t.get("columns", [])]
            for s in doc["sources"] for t in s["tables"]}


def _seed(name: str) -> list[dict[str, str]]:
    with (RULES / f"{name}.csv").open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def test_contract_parser_reads_every_table_section():
    # The parser must find the nine tables (a parser finding nothing would make the
    # comparison below pass vacuously).
    assert len(contract_columns(CONTRACT.read_text(encoding="utf-8"))) == 9


def test_contract_tables_and_columns_match_sources_yaml_both_ways():
    documented = contract_columns(CONTRACT.read_text(encoding="utf-8"))
    declared = sources_columns()
    problems = []
    for table in sorted(set(documented) | set(declared)):
        if table not in declared:
            problems.append(f"{table}: in docs/raw_extracts.md, not in {SOURCES.name}")
            continue
        if table not in documented:
            problems.append(f"{table}: in {SOURCES.name}, not in docs/raw_extracts.md")
            continue
        for col in documented[table]:
            if col not in declared[table]:
                problems.append(f"{table}.{col}: documented, not declared in {SOURCES.name}")
        for col in declared[table]:
            if col not in documented[table]:
                problems.append(f"{table}.{col}: declared in {SOURCES.name}, not documented")
    assert not problems, "\n".join(problems)


def test_contract_comparison_catches_a_missing_column():
    text = CONTRACT.read_text(encoding="utf-8").replace("| cny_per_unit | string |",
                                                        "| cny_per_unt | string |")
    assert contract_columns(text)["fx_rates"] != sources_columns()["fx_rates"]


def test_spec_groups_match_rule_groups_seed():
    spec_rows = next(rows for _, rows in _markdown_tables(SPEC.read_text(encoding="utf-8"))
                     if rows and "priority" in rows[0] and "中文" in rows[0])
    spec = {r["code"].strip("`"): (int(r["priority"]), r["中文"]) for r in spec_rows}
    seed = {r["group_code"]: (int(r["priority"]), r["group_name_zh"])
            for r in _seed("rule_groups") if r["is_fallback"] != "true"}
    assert spec == seed


def test_spec_names_every_tier_band_and_stage_code_of_the_seeds():
    text = SPEC.read_text(encoding="utf-8")
    named = set(re.findall(r"`([a-z0-9_]+)`", text))
    for seed, key in (("rule_asset_tiers", "tier_code"), ("rule_age_bands", "band_code"),
                      ("rule_trading_frequency_bands", "band_code"),
                      ("rule_lifecycle_stages", "stage_code"),
                      ("rule_churn_levels", "level_code")):
        missing = [r[key] for r in _seed(seed) if r[key] not in named]
        assert not missing, f"seeds/rules/{seed}.csv codes not in docs/segmentation.md: {missing}"


def _markdown_files() -> list[Path]:
    skip = {".venv", "warehouse", "target", "logs", "dbt_packages", ".git", "node_modules"}
    return sorted(p for p in PROJECT_DIR.rglob("*.md")
                  if not skip & set(p.relative_to(PROJECT_DIR).parts))


def _outside_or_missing(doc: Path, target: str) -> str | None:
    target = target.split("#", 1)[0]
    if not target or re.match(r"[a-z]+:", target):   # same-page anchor or a URL
        return None
    for base in (doc.parent, PROJECT_DIR):
        path = (base / target).resolve()
        if path.is_relative_to(PROJECT_DIR) and path.exists():
            return None
    return f"{doc.relative_to(PROJECT_DIR)}: {target}"


@pytest.mark.parametrize("doc", _markdown_files(), ids=lambda p: str(p.relative_to(PROJECT_DIR)))
def test_documents_link_only_files_inside_the_repository(doc: Path):
    text = doc.read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)\s]+)\)", text)
    # Paths of documents written as code (`docs/x.md`, `../x.md`) must resolve inside too.
    links += [m for m in re.findall(r"`([^`\s]+\.md)`", text) if "<" not in m and "*" not in m]
    bad = [b for b in (_outside_or_missing(doc, t) for t in links) if b]
    assert not bad, "links that leave the repository or name no file:\n" + "\n".join(bad)
