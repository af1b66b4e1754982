"""`kequn summary`: what the published warehouse says, for the business, Chinese first.

Reads the marts and the rule seeds (schema `rules`) only: every name shown beside a code
(groups, tiers, lifecycle stages, churn levels, acquisition channels) is the seed's
`*_name_zh`, so a renamed group is renamed here by editing its CSV. Python holds no rule:
which tiers count as high net worth and which churn levels as at risk come from the seeds.
Column headers are the only text written here. Columns are aligned in terminal cells
(East Asian wide characters take two).
"""

from __future__ import annotations

import argparse
import json
import sys
import unicodedata
from decimal import Decimal
from pathlib import Path

import duckdb

from kequn.state import state_dir

LANGS = ("zh", "en")

# (zh, en) for every header and title; the first of a pair is printed first.
TEXT: dict[str, tuple[str, str]] = {
    "title": ("客群概览", "kequn summary"),
    "as_of": ("截至", "as of"),
    "rule_version": ("规则版本", "rule_version"),
    "reconciliation": ("对账", "reconciliation"),
    "recon_line": ("{tables} 张原始表 {raw:,} 行 = 入库 {loaded:,} + 重复 {dup:,} + 拒收 {rej:,}",
                   "{tables} raw tables, {raw:,} rows = {loaded:,} loaded + {dup:,} duplicates"
                   " + {rej:,} rejected"),
    "recon_ok": ("全部对上", "every row accounted for"),
    "recon_bad": ("有差额，见构建报告", "does NOT add up: see the build report"),
    "groups": ("主客群：客户、资产与高净值客户", "Primary groups: clients, assets, high net worth"),
    "churn": ("各客群流失风险", "Churn risk by primary group"),
    "lifecycle": ("各来源渠道的生命旅程", "Lifecycle stage by acquisition channel"),
    "tiers": ("资产分层", "Asset tiers"),
    "name": ("名称", "name (中文)"),
    "code": ("代码", "code"),
    "clients": ("客户数", "clients"),
    "pct": ("占比%", "pct"),
    "assets_m": ("总资产(百万元)", "assets (M CNY)"),
    "assets_per_client": ("户均资产(元)", "per client (CNY)"),
    "hnw": ("高净值客户", "high net worth"),
    "not_scored": ("不评分", "not scored"),
    "at_risk_pct": ("风险占比%", "at risk %"),
    "total": ("合计", "total"),
    "warehouse": ("仓库", "warehouse"),
    "report": ("构建报告", "report"),
    "no_report": ("（无：此仓库没有构建记录）", "(none: no build history for this warehouse)"),
}


class SummaryError(RuntimeError):
    """The warehouse cannot be summarised; the message says why in the user's terms."""


def text(key: str, lang: str) -> str:
    zh, en = TEXT[key]
    return zh if lang == "zh" else en


def title(key: str, lang: str) -> str:
    """Titles carry both languages, the chosen one first."""
    zh, en = TEXT[key]
    return f"{zh}  {en}" if lang == "zh" else f"{en}  {zh}"


def cell_width(value: str) -> int:
    """Terminal cells a string takes: East Asian wide and full-width characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in value)


def _pad(value: str, width: int, right: bool) -> str:
    fill = " " * max(0, width - cell_width(value))
    return fill + value if right else value + fill


def _fmt(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float | Decimal):
        return f"{value:,.1f}"
    return str(value)


def format_table(headers: list[str], rows: list[list[object]], indent: str = "  ") -> list[str]:
    """Aligned lines: numbers right-aligned, text (codes too, even `10k_100k`) left-aligned."""
    cells = [[_fmt(v) for v in r] for r in rows]
    numeric = [all(isinstance(r[i], int | float | Decimal) and not isinstance(r[i], bool)
                   for r in rows if r[i] is not None) and any(r[i] is not None for r in rows)
               for i in range(len(headers))]
    widths = [max([cell_width(h)] + [cell_width(r[i]) for r in cells])
              for i, h in enumerate(headers)]
    out = [indent + "  ".join(_pad(h, w, n) for h, w, n in zip(headers, widths, numeric,
                                                                 strict=True)).rstrip()]
    for r in cells:
        out.append(indent + "  ".join(_pad(v, w, n) for v, w, n in zip(r, widths, numeric,
                                                                       strict=True)).rstrip())
    return out


def _labels(lang: str, name_zh: str | None, code: str) -> list[object]:
    name = name_zh or code
    return [name, code] if lang == "zh" else [code, name]


def _label_headers(lang: str) -> list[str]:
    return [text("name", lang), text("code", lang)] if lang == "zh" else \
        [text("code", lang), text("name", lang)]


def _groups(con: duckdb.DuckDBPyConnection, lang: str) -> list[str]:
    rows = con.execute("""
        select
            segments.primary_group,
            max(groups.group_name_zh),
            count(*),
            100.0 * count(*) / sum(count(*)) over (),
            sum(segments.total_assets) / 1e6,
            sum(segments.total_assets) / count(*),
            count(case when tiers.is_high_net_worth then 1 end)
        from marts.client_segments as segments
        left join rules.rule_groups as groups on segments.primary_group = groups.group_code
        left join rules.rule_asset_tiers as tiers on segments.asset_tier = tiers.tier_code
        group by segments.primary_group
        order by min(groups.priority), segments.primary_group
    """).fetchall()
    headers = _label_headers(lang) + [text(k, lang) for k in
                                      ("clients", "pct", "assets_m", "assets_per_client", "hnw")]
    body = [_labels(lang, r[1], r[0]) + [r[2], float(r[3]), float(r[4] or 0),
                                         int(round(r[5] or 0)), r[6]] for r in rows]
    return [title("groups", lang), *format_table(headers, body)]


def _churn(con: duckdb.DuckDBPyConnection, lang: str) -> list[str]:
    levels = con.execute("select level_code, level_name_zh, is_at_risk "
                         "from rules.rule_churn_levels order by min_score desc").fetchall()
    counts = con.execute("""
        select
            segments.primary_group,
            max(groups.group_name_zh),
            min(groups.priority),
            segments.churn_risk_level,
            count(*)
        from marts.client_segments as segments
        left join rules.rule_groups as groups on segments.primary_group = groups.group_code
        group by segments.primary_group, segments.churn_risk_level
    """).fetchall()
    groups: dict[str, dict] = {}
    for code, name, priority, level, n in counts:
        g = groups.setdefault(code, {"name": name, "priority": priority, "n": {}})
        g["n"][level] = n
    at_risk = {code for code, _, risky in levels if risky}
    level_head = [(name or code) if lang == "zh" else code for code, name, _ in levels]
    headers = (_label_headers(lang) + level_head
               + [text("not_scored", lang), text("at_risk_pct", lang)])
    body = []
    for code, g in sorted(groups.items(), key=lambda kv: (kv[1]["priority"] or 0, kv[0])):
        scored = sum(n for lvl, n in g["n"].items() if lvl is not None)
        risky = sum(n for lvl, n in g["n"].items() if lvl in at_risk)
        body.append(_labels(lang, g["name"], code)
                    + [g["n"].get(lvl, 0) for lvl, _, _ in levels]
                    + [g["n"].get(None, 0), 100.0 * risky / scored if scored else None])
    return [title("churn", lang), *format_table(headers, body)]


def _lifecycle(con: duckdb.DuckDBPyConnection, lang: str) -> list[str]:
    stages = con.execute("select stage_code, stage_name_zh from rules.rule_lifecycle_stages "
                         "order by priority desc").fetchall()
    counts = con.execute("""
        select
            coalesce(segments.open_channel, 'unknown'),
            max(channels.channel_name_zh),
            min(channels.sort_order),
            segments.lifecycle_stage,
            count(*)
        from marts.client_segments as segments
        left join rules.rule_acquisition_channels as channels
            on coalesce(segments.open_channel, 'unknown') = channels.channel_code
        group by 1, segments.lifecycle_stage
    """).fetchall()
    channels: dict[str, dict] = {}
    for code, name, order, stage, n in counts:
        c = channels.setdefault(code, {"name": name, "order": order, "n": {}})
        c["n"][stage] = n
    stage_head = [(name or code) if lang == "zh" else code for code, name in stages]
    headers = _label_headers(lang) + stage_head + [text("total", lang)]
    body = [_labels(lang, c["name"], code) + [c["n"].get(s, 0) for s, _ in stages]
            + [sum(c["n"].values())]
            for code, c in sorted(channels.items(), key=lambda kv: (kv[1]["order"] or 0, kv[0]))]
    return [title("lifecycle", lang), *format_table(headers, body)]


def _tiers(con: duckdb.DuckDBPyConnection, lang: str) -> list[str]:
    rows = con.execute("""
        select tiers.tier_code, tiers.tier_name_zh, count(segments.client_id),
               100.0 * count(segments.client_id) / sum(count(segments.client_id)) over ()
        from rules.rule_asset_tiers as tiers
        left join marts.client_segments as segments on segments.asset_tier = tiers.tier_code
        group by tiers.tier_code, tiers.tier_name_zh, tiers.sort_order
        order by tiers.sort_order
    """).fetchall()
    headers = _label_headers(lang) + [text("clients", lang), text("pct", lang)]
    body = [_labels(lang, r[1], r[0]) + [r[2], float(r[3] or 0)] for r in rows]
    return [title("tiers", lang), *format_table(headers, body)]


def _reconciliation(con: duckdb.DuckDBPyConnection, lang: str) -> str:
    tables, raw, loaded, dup, rej = con.execute("""
        select count(*), sum(raw_rows), sum(loaded_rows), sum(duplicate_rows),
               sum(rejected_rows)
        from marts.dq_reconciliation
    """).fetchone()
    line = text("recon_line", lang).format(tables=tables, raw=int(raw or 0),
                                           loaded=int(loaded or 0), dup=int(dup or 0),
                                           rej=int(rej or 0))
    ok = (raw or 0) == (loaded or 0) + (dup or 0) + (rej or 0)
    verdict = text("recon_ok" if ok else "recon_bad", lang)
    return f"{text('reconciliation', lang)}: {line} ({verdict})"


def latest_report(db: Path) -> Path | None:
    """The report.html of the build that published `db`, from the warehouse's build history."""
    db = db.resolve()
    for history in (state_dir(db) / "gate_history.jsonl", db.parent / "gate_history.jsonl"):
        if not history.is_file():
            continue
        for line in reversed(history.read_text(encoding="utf-8").splitlines()):
            try:
                run = json.loads(line)
            except ValueError:
                continue
            if run.get("status") == "published" and run.get("build_dir"):
                report = Path(run["build_dir"]) / "report.html"
                return report if report.is_file() else None
    return None


def summarise(db: Path, lang: str = "zh") -> list[str]:
    if not db.is_file():
        raise SummaryError(f"no warehouse at {db}: build one first with "
                           f"`kequn build --raw-dir <extract> --db {db}`")
    try:
        con = duckdb.connect(str(db), read_only=True)
    except duckdb.Error as exc:
        raise SummaryError(f"{db} cannot be opened as a DuckDB database: {exc}") from exc
    try:
        tables = {r[0] for r in con.execute(
            "select table_schema || '.' || table_name from information_schema.tables").fetchall()}
        needed = {"marts.client_segments", "marts.dq_reconciliation", "rules.rule_groups",
                  "rules.rule_acquisition_channels"}
        if not needed <= tables:
            raise SummaryError(f"{db} is not a kequn warehouse of this version (missing "
                               f"{', '.join(sorted(needed - tables))}); rebuild it with "
                               "`kequn build --full-refresh`")
        as_of, version = con.execute(
            "select max(as_of_date), max(rule_version) from marts.client_segments").fetchone()
        out = [f"{title('title', lang)} — {text('as_of', lang)} {as_of}, "
               f"{text('rule_version', lang)} {version}",
               _reconciliation(con, lang)]
        for section in (_groups, _churn, _lifecycle, _tiers):
            out += ["", *section(con, lang)]
    finally:
        con.close()
    report = latest_report(db)
    out += ["", f"{text('warehouse', lang)}: {db.resolve()}",
            f"{text('report', lang)}: {report if report else text('no_report', lang)}"]
    return out


def run_summary(args: argparse.Namespace) -> int:
    try:
        lines = summarise(Path(args.db), getattr(args, "lang", "zh"))
    except SummaryError as exc:
        print(f"kequn summary: {exc}", file=sys.stderr)
        return 2
    print("\n".join(lines))
    return 0
