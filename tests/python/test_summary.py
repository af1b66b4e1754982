"""`kequn summary`: names from the seeds, both languages, columns aligned in terminal cells."""

from __future__ import annotations

import csv
from pathlib import Path

import duckdb
import pytest

from kequn import PROJECT_DIR
from kequn.summary import cell_width, format_table, summarise


def test_wide_characters_take_two_cells():
    assert cell_width("mass") == 4
    assert cell_width("科创企业高管") == 12
    assert cell_width("Z世代") == 5
    assert cell_width("（未填写）") == 10   # full-width brackets too


def test_columns_line_up_in_cells_with_chinese_and_codes_starting_with_a_digit():
    lines = format_table(["名称", "代码", "客户数"],
                         [["1万以下", "lt_10k", 954], ["1万至10万", "10k_100k", 670],
                          ["高净值 100万至600万", "1m_6m", 44]])
    # every line has the same width in cells, and each column starts at the same cell
    assert len({cell_width(line) for line in lines}) == 1
    starts = {line.index(code) + sum(cell_width(c) - 1 for c in line[:line.index(code)])
              for line, code in zip(lines[1:], ("lt_10k", "10k_100k", "1m_6m"), strict=True)}
    assert len(starts) == 1, "codes starting with a digit are text: left-aligned like the rest"
    assert lines[1].endswith("954") and lines[2].endswith("670") and lines[3].endswith(" 44")


def _seed(name: str) -> list[dict[str, str]]:
    with (PROJECT_DIR / "seeds" / "rules" / f"{name}.csv").open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.slow
def test_summary_speaks_chinese_first_with_the_seeds_names(handwritten_build: Path):
    zh = "\n".join(summarise(handwritten_build, "zh"))
    with duckdb.connect(str(handwritten_build), read_only=True) as con:
        groups = {r[0] for r in con.execute(
            "select distinct primary_group from marts.client_segments").fetchall()}
        stages = {r[0] for r in con.execute(
            "select distinct lifecycle_stage from marts.client_segments").fetchall()}
    names = {r["group_code"]: r["group_name_zh"] for r in _seed("rule_groups")}
    stage_names = {r["stage_code"]: r["stage_name_zh"] for r in _seed("rule_lifecycle_stages")}
    for code in groups:
        assert f"{names[code]}" in zh and code in zh
    for name in stage_names.values():   # every stage is a column of the channel table
        assert name in zh
    assert stages
    for title in ("主客群", "流失风险", "来源渠道", "资产分层", "对账", "全部对上"):
        assert title in zh
    en = summarise(handwritten_build, "en")
    assert en[0].startswith("kequn summary") and "as of" in en[0]
    assert any("clients" in line and "high net worth" in line for line in en)
    assert en[-2].startswith("warehouse: ") and en[-1].startswith("report: ")
    assert en[-1].endswith("report.html")
