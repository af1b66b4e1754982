"""`kequn report`: the segment report (客群报告) for wealth-management teams.

One self-contained, offline HTML page (plots as base64 PNG, inline CSS, no JavaScript, no
web fonts) drawn from the published warehouse only: it opens the DuckDB file read-only and
reads the `marts` schema, plus the `rules` seeds for Chinese names and which churn levels
count as at risk. Every number is a mart's number; no business rule is repeated here.

The page is the list `SECTIONS`: each `Section` has a Chinese and an English title and a
function that turns the warehouse into HTML. A later section (behaviour clusters,
campaigns) is one more function and one more line in that list.

Chinese labels need a CJK font: `make setup` installs Debian's fonts-noto-cjk, and
`configure_cjk_font` fails with a clear message when it is missing (matplotlib would
otherwise draw empty boxes).
"""

from __future__ import annotations

import argparse
import base64
import html
import io
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from kequn.clusters_report import cluster_section
from kequn.state import state_dir

if TYPE_CHECKING:
    from matplotlib.figure import Figure

REPORT_NAME = "segment_report.html"

# The marts the report reads (also the exposure's depends_on in
# models/exposures/_report__exposures.yml) and the seeds it takes names from.
MARTS = ("client_segments", "group_monthly_summary", "client_group_membership_history",
         "acquisition_channel_summary")
SEEDS = ("rule_groups", "rule_lifecycle_stages", "rule_churn_levels", "rule_churn_signals",
         "rule_acquisition_channels")

RISK_LEVELS = ("C1", "C2", "C3", "C4", "C5")
# Order of the lifecycle funnel (a reading order, not a rule: stages come from the mart).
FUNNEL = ("new", "active", "zombie", "dormant", "churned", "closed")
FONT_FAMILIES = ("Noto Sans CJK SC", "Noto Sans CJK JP", "Noto Serif CJK SC")
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf")


class ReportError(RuntimeError):
    """The report cannot be made (no warehouse, a mart missing, no CJK font)."""


# --------------------------------------------------------------------------- setup

def configure_cjk_font(families: Sequence[str] = FONT_FAMILIES) -> str:
    """Make matplotlib draw Chinese: register Debian's Noto CJK font and select it."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import font_manager

    for path in sorted(Path("/usr/share/fonts").rglob("NotoSans*CJK*")):
        if path.suffix.lower() in (".ttc", ".otf", ".ttf"):
            font_manager.fontManager.addfont(str(path))
    names = {f.name for f in font_manager.fontManager.ttflist}
    family = next((n for n in families if n in names), None)
    if family is None:
        raise ReportError(
            "no CJK font for the Chinese labels (looked for "
            f"{', '.join(families)} under /usr/share/fonts): run `make setup`, which "
            "installs Debian's fonts-noto-cjk (apt-get install -y fonts-noto-cjk)")
    matplotlib.rcParams.update({
        "font.family": "sans-serif",
        "font.sans-serif": [family, "DejaVu Sans"],
        "axes.unicode_minus": False,
        "figure.dpi": 100,
        "savefig.dpi": 110,
        "axes.spines.top": False,
        "axes.spines.right": False,
    })
    return family


def connect(db: Path) -> duckdb.DuckDBPyConnection:
    """Open the published warehouse read-only and check that what the report reads is there."""
    if not Path(db).exists():
        raise ReportError(f"no warehouse at {db}: run `kequn build` first")
    con = duckdb.connect(str(db), read_only=True)
    have = {(s, t) for s, t in con.execute(
        "select table_schema, table_name from information_schema.tables").fetchall()}
    missing = [f"marts.{t}" for t in MARTS if ("marts", t) not in have]
    missing += [f"rules.{t}" for t in SEEDS if ("rules", t) not in have]
    if missing:
        con.close()
        raise ReportError(f"{db} lacks {', '.join(missing)}: is it a kequn warehouse "
                          "built by `kequn build`?")
    return con


# --------------------------------------------------------------------------- context

@dataclass
class ReportContext:
    """What every section may use: the read-only connection and the Chinese names."""

    con: duckdb.DuckDBPyConnection
    groups: dict[str, str]                       # group_code -> 中文名, in priority order
    stages: dict[str, str]                       # stage_code -> 中文名
    levels: dict[str, str]                       # churn level -> 中文名, highest first
    at_risk_levels: tuple[str, ...]
    signals: dict[str, str]                      # signal_code -> English description
    signal_names: dict[str, str]                 # signal_code -> 中文名
    channels: dict[str, str]                     # acquisition channel code -> 中文名
    as_of: Any = None
    rule_version: str | None = None

    @classmethod
    def load(cls, con: duckdb.DuckDBPyConnection) -> ReportContext:
        groups = dict(con.execute(
            "select group_code, group_name_zh from rules.rule_groups "
            "order by priority").fetchall())
        stages = dict(con.execute(
            "select stage_code, stage_name_zh from rules.rule_lifecycle_stages").fetchall())
        level_rows = con.execute(
            "select level_code, level_name_zh, is_at_risk from rules.rule_churn_levels "
            "order by min_score desc").fetchall()
        signal_rows = con.execute(
            "select signal_code, description, signal_name_zh from rules.rule_churn_signals "
            "order by weight desc").fetchall()
        channels = dict(con.execute(
            "select channel_code, channel_name_zh from rules.rule_acquisition_channels "
            "order by sort_order").fetchall())
        as_of, version = con.execute(
            "select max(as_of_date), max(rule_version) from marts.client_segments").fetchone()
        return cls(con=con, groups=groups, stages=stages,
                   levels={c: n for c, n, _ in level_rows},
                   at_risk_levels=tuple(c for c, _, r in level_rows if r),
                   signals={c: d for c, d, _ in signal_rows},
                   signal_names={c: n for c, _, n in signal_rows}, channels=channels,
                   as_of=as_of, rule_version=version)

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        return self.con.execute(sql, list(params)).fetchall()

    def group(self, code: str) -> str:
        return f"{self.groups.get(code, code)} {code}"

    def stage(self, code: str) -> str:
        return f"{self.stages.get(code, code)} {code}"

    def month_ends(self, table: str) -> str:
        """SQL predicate selecting calendar month-end rows of a history mart (`table`): the
        history marts also hold one row for the current, incomplete as-of date, and say
        which is which in `is_month_end`."""
        del table   # every history mart carries the column
        return "is_month_end"

    def last_month_ends(self, n: int) -> list[Any]:
        table = "client_group_membership_history"
        return [r[0] for r in self.rows(
            f"select distinct month_end from marts.{table} where {self.month_ends(table)} "
            f"order by month_end desc limit {int(n)}")][::-1]


# --------------------------------------------------------------------------- HTML helpers

def _e(v: Any) -> str:
    return html.escape("" if v is None else str(v))


def _n(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:,.1f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def figure_html(ctx: ReportContext, fig: Figure, alt: str) -> str:
    """The figure as an embedded PNG (the figure is closed)."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight", facecolor="white")
    plt.close(fig)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img class="plot" alt="{_e(alt)}" src="data:image/png;base64,{data}">'


def table_html(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(
            f'<td class="n">{_e(_n(v))}</td>' if isinstance(v, (int, float)) and
            not isinstance(v, bool) else f"<td>{_e(v)}</td>" for v in r) + "</tr>"
        for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def empty_html(zh: str, en: str) -> str:
    return f'<p class="empty">{_e(zh)} — {_e(en)}</p>'


def _pct(part: float, whole: float) -> float:
    return 100.0 * part / whole if whole else 0.0


def _plt():
    import matplotlib.pyplot as plt

    return plt


# --------------------------------------------------------------------------- sections

def overview(ctx: ReportContext) -> str:
    (clients, assets, active, zombie, at_risk, assess) = ctx.rows(
        """select count(*), coalesce(sum(total_assets), 0),
                  count(*) filter (where lifecycle_stage = 'active'),
                  count(*) filter (where lifecycle_stage = 'zombie'),
                  count(*) filter (where list_contains(?, churn_risk_level)),
                  count(*) filter (where needs_risk_assessment)
           from marts.client_segments""", [list(ctx.at_risk_levels)])[0]
    tiles = [
        ("客户数", "Clients", f"{clients:,}"),
        ("总资产（百万元）", "Total assets (CNY m)", f"{float(assets) / 1e6:,.1f}"),
        ("活跃占比", "Active share", f"{_pct(active, clients):.1f}%"),
        ("僵尸户占比", "Zombie share", f"{_pct(zombie, clients):.1f}%"),
        ("流失预警客户", "Clients at churn risk", f"{at_risk:,}"),
        ("需风险测评", "Need a risk assessment", f"{_pct(assess, clients):.1f}%"),
    ]
    return '<div class="tiles">' + "".join(
        f'<div class="tile"><div class="v">{_e(v)}</div><div>{_e(zh)}</div>'
        f'<div class="en">{_e(en)}</div></div>' for zh, en, v in tiles) + "</div>"


def group_sizes(ctx: ReportContext) -> str:
    plt = _plt()
    rows = ctx.rows(
        f"""select month_end, group_code, clients, total_assets
            from marts.group_monthly_summary
            where {ctx.month_ends('group_monthly_summary')}
            order by month_end, group_code""")
    if not rows:
        return empty_html("暂无月末数据", "no month end in group_monthly_summary yet")
    months = sorted({r[0] for r in rows})
    by_group: dict[str, dict[Any, tuple[int, float]]] = {}
    for m, g, n, a in rows:
        by_group.setdefault(g, {})[m] = (n, float(a))
    codes = [g for g in ctx.groups if g in by_group] + sorted(set(by_group) - set(ctx.groups))
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.8))
    for i, g in enumerate(codes):
        colour = PALETTE[i % len(PALETTE)]
        ax1.plot(months, [by_group[g].get(m, (0, 0))[0] for m in months], marker="o",
                 color=colour, label=ctx.group(g))
        ax2.plot(months, [by_group[g].get(m, (0, 0))[1] / 1e6 for m in months], marker="o",
                 color=colour, label=ctx.group(g))
    ax1.set_title("各客群人数 Clients per group")
    ax1.set_ylabel("客户数 Clients")
    ax2.set_title("各客群资产 Assets per group")
    ax2.set_ylabel("总资产（百万元）Total assets (CNY m)")
    for ax in (ax1, ax2):
        ax.set_xlabel("月末 Month end")
        ax.tick_params(axis="x", rotation=45)
        ax.grid(alpha=0.3)
    ax2.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=9,
               title="客群 Group")
    fig.tight_layout()
    last = months[-1]
    table = table_html(
        ["客群 Group", f"客户数 Clients ({last})", "总资产（百万元）Assets (CNY m)"],
        [(ctx.group(g), by_group[g].get(last, (0, 0))[0],
          round(by_group[g].get(last, (0, 0))[1] / 1e6, 1)) for g in codes])
    return (figure_html(ctx, fig, "客群规模与资产 Group size and assets by month")
            + "<p class=note>一位客户可属于多个客群，在每个客群中都计数。"
              " A client in several groups counts in each.</p>" + table)


def lifecycle_funnel(ctx: ReportContext) -> str:
    plt = _plt()
    counts = dict(ctx.rows("select lifecycle_stage, count(*) from marts.client_segments "
                           "group by 1"))
    stages = [s for s in FUNNEL if s in counts] + sorted(set(counts) - set(FUNNEL))
    total = sum(counts.values())
    table = "client_group_membership_history"
    history = ctx.rows(
        f"""select month_end, lifecycle_stage, count(*) from marts.{table}
            where is_primary and {ctx.month_ends(table)}
            group by 1, 2 order by 1""")
    months = sorted({r[0] for r in history})
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(13, 4.8),
                                   gridspec_kw={"width_ratios": [1, 1.3]})
    widest = max(counts.values()) if counts else 1
    colours = {s: PALETTE[i % len(PALETTE)] for i, s in enumerate(stages)}
    for y, s in enumerate(stages):
        n = counts[s]
        ax1.barh(y, n, left=-n / 2, color=colours[s], height=0.7)
        ax1.text(widest / 2 * 1.04, y, f"{ctx.stage(s)}\n{n:,} ({_pct(n, total):.1f}%)",
                 va="center", fontsize=9)
    ax1.set_yticks([])
    ax1.invert_yaxis()
    ax1.set_xlim(-widest / 2 * 1.05, widest * 1.25)
    ax1.set_xticks([])
    ax1.spines[["left", "bottom"]].set_visible(False)
    ax1.set_title(f"生命旅程漏斗 Lifecycle funnel ({ctx.as_of})")
    if months:
        per_month = {(m, s): n for m, s, n in history}
        bottom = [0.0] * len(months)
        month_totals = [sum(n for (mm, _), n in per_month.items() if mm == m) for m in months]
        for s in stages:
            share = [_pct(per_month.get((m, s), 0), t) for m, t in zip(months, month_totals,
                                                                         strict=True)]
            ax2.bar([str(m) for m in months], share, bottom=bottom, color=colours[s],
                    label=ctx.stage(s))
            bottom = [b + v for b, v in zip(bottom, share, strict=True)]
        ax2.set_ylim(0, 100)
        ax2.set_ylabel("占比 % Share of clients")
        ax2.set_xlabel("月末 Month end")
        ax2.tick_params(axis="x", rotation=45)
        ax2.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=9,
                   title="阶段 Stage")
    ax2.set_title("各月末阶段构成 Stage mix by month end")
    fig.tight_layout()
    out = figure_html(ctx, fig, "生命旅程漏斗 Lifecycle funnel")
    last_two = ctx.last_month_ends(2)
    if len(last_two) == 2:
        out += transition_matrix(
            ctx, "lifecycle_stage", last_two, ctx.stage, order=stages,
            title=f"阶段流转 Stage transitions {last_two[0]} → {last_two[1]}")
    return out


def transition_matrix(ctx: ReportContext, column: str, month_ends: Sequence[Any],
                      label: Callable[[str], str], *, order: Sequence[str], title: str) -> str:
    """Heatmap of clients by their primary row's `column` at two month ends (from → to)."""
    plt = _plt()
    before, after = month_ends
    rows = ctx.rows(
        f"""with
            a as (select client_id, {column} as v from marts.client_group_membership_history
                  where is_primary and month_end = ?),
            b as (select client_id, {column} as v from marts.client_group_membership_history
                  where is_primary and month_end = ?)
            select coalesce(a.v, '~'), coalesce(b.v, '~'), count(*)
            from a full outer join b on a.client_id = b.client_id
            group by 1, 2""", [before, after])
    absent = "~"
    seen = {r[0] for r in rows} | {r[1] for r in rows}
    codes = [c for c in order if c in seen] + sorted(seen - set(order) - {absent})
    froms = codes + ([absent] if absent in {r[0] for r in rows} else [])
    tos = codes + ([absent] if absent in {r[1] for r in rows} else [])
    cell = {(f, t): n for f, t, n in rows}
    matrix = [[cell.get((f, t), 0) for t in tos] for f in froms]

    def name(c: str, side: str) -> str:
        if c != absent:
            return label(c)
        if side == "from":
            return "（此前未在册）not yet a client"
        return "（已不在册）no longer listed"

    fig, ax = plt.subplots(figsize=(min(1.0 * len(tos) + 3.5, 12.5), 0.42 * len(froms) + 1.9))
    # colour = share of the "from" row (where that row's clients went), text = clients
    shares = [[v / (sum(r) or 1) for v in r] for r in matrix]
    ax.imshow(shares, cmap="Blues", vmin=0, vmax=1, aspect="auto")
    for i, r in enumerate(matrix):
        for j, v in enumerate(r):
            if v:
                ax.text(j, i, f"{v:,}", ha="center", va="center", fontsize=8,
                        color="white" if shares[i][j] > 0.55 else "#1f2328")
    ax.set_xticks(range(len(tos)), [name(c, "to").replace(" ", "\n", 1) for c in tos],
                  fontsize=8, rotation=0)
    ax.set_yticks(range(len(froms)), [name(c, "from") for c in froms], fontsize=9)
    ax.set_xlabel(f"{after} 月末 month end（去向 to）")
    ax.set_ylabel(f"{before} 月末 month end（来自 from）")
    ax.set_title(title)
    ax.spines[["top", "right", "left", "bottom"]].set_visible(False)
    fig.tight_layout()
    moved = sum(v for (f, t), v in cell.items() if f != t)
    stayed = sum(v for (f, t), v in cell.items() if f == t)
    return (figure_html(ctx, fig, title)
            + "<p class=note>数字为客户数，颜色为该行客户的去向占比；对角线为留存："
              f"留存 {stayed:,}，变动 {moved:,}。"
              " Numbers are clients, colour is the share of the row's clients;"
              f" diagonal = stayed ({stayed:,}), off-diagonal = moved ({moved:,}).</p>")


def group_migration(ctx: ReportContext) -> str:
    last_two = ctx.last_month_ends(2)
    if len(last_two) < 2:
        return empty_html("需要至少两个月末", "needs at least two month ends of history")
    return transition_matrix(
        ctx, "group_code", last_two, ctx.group, order=list(ctx.groups),
        title=f"主客群迁移 Primary-group migration {last_two[0]} → {last_two[1]}")


def acquisition_channels(ctx: ReportContext) -> str:
    plt = _plt()
    rows = ctx.rows(
        """select open_channel, sum(clients), sum(active_clients), sum(zombie_clients),
                  sum(total_assets)
           from marts.acquisition_channel_summary group by 1 order by 2 desc""")
    if not rows:
        return empty_html("暂无渠道数据", "acquisition_channel_summary is empty")

    def name(c: str) -> str:
        return f"{ctx.channels.get(c, c)} {c}"

    rows = rows[::-1]   # largest on top
    fig, ax = plt.subplots(figsize=(12, 0.45 * len(rows) + 1.8))
    labels = [name(r[0]) for r in rows]
    active = [int(r[2]) for r in rows]
    zombie = [int(r[3]) for r in rows]
    other = [int(r[1]) - a - z for r, a, z in zip(rows, active, zombie, strict=True)]
    ax.barh(labels, active, color="#2ca02c", label="活跃 active")
    ax.barh(labels, zombie, left=active, color="#d62728", label="僵尸户 zombie")
    ax.barh(labels, other, left=[a + z for a, z in zip(active, zombie, strict=True)],
            color="#c7c7c7", label="其他阶段 other stages")
    for i, r in enumerate(rows):
        ax.text(int(r[1]) * 1.01, i, f"僵尸 zombie {_pct(int(r[3]), int(r[1])):.0f}% · "
                f"活跃 active {_pct(int(r[2]), int(r[1])):.0f}%", va="center", fontsize=8)
    ax.set_xlim(0, max(int(r[1]) for r in rows) * 1.35)
    ax.set_xlabel("客户数 Clients")
    ax.set_title("获客渠道 → 活跃 vs 僵尸 Acquisition channel → active vs zombie")
    ax.legend(loc="lower right", fontsize=9)
    fig.tight_layout()
    table = table_html(
        ["渠道 Channel", "客户数 Clients", "活跃 Active", "僵尸户 Zombie",
         "活跃率 Active %", "总资产（百万元）Assets (CNY m)"],
        [(name(r[0]), int(r[1]), int(r[2]), int(r[3]), round(_pct(int(r[2]), int(r[1])), 1),
          round(float(r[4]) / 1e6, 1)) for r in rows[::-1]])
    return figure_html(ctx, fig, "获客渠道 Acquisition channels") + table


def churn_risk(ctx: ReportContext) -> str:
    plt = _plt()
    dist = ctx.rows(
        """select primary_group, churn_risk_level, count(*) from marts.client_segments
           where churn_risk_level is not null group by 1, 2""")
    if not dist:
        return empty_html("暂无流失评分", "no client has a churn risk score")
    reasons = ctx.rows(
        """with fired as (
               select primary_group, client_id,
                      regexp_extract(trim(reason), '^([A-Za-z0-9_]+)', 1) as signal
               from marts.client_segments,
                    unnest(string_split(churn_reasons, ';')) as t(reason)
               where list_contains(?, churn_risk_level) and trim(reason) <> ''
           )
           select primary_group, signal, count(distinct client_id)
           from fired group by 1, 2""", [list(ctx.at_risk_levels)])
    at_risk = dict(ctx.rows(
        """select primary_group, count(*) from marts.client_segments
           where list_contains(?, churn_risk_level) group by 1""",
        [list(ctx.at_risk_levels)]))
    cell = {(g, lv): n for g, lv, n in dist}
    groups = [g for g in ctx.groups if any(k[0] == g for k in cell)]
    levels = list(ctx.levels)
    colours = {"high": "#d62728", "medium": "#ff7f0e", "low": "#2ca02c"}
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(14, 0.5 * len(groups) + 2.4),
                                   gridspec_kw={"width_ratios": [1, 1.1]})
    left = [0.0] * len(groups)
    totals = [sum(cell.get((g, lv), 0) for lv in levels) for g in groups]
    for k, lv in enumerate(levels):
        share = [_pct(cell.get((g, lv), 0), t) for g, t in zip(groups, totals, strict=True)]
        ax1.barh([ctx.group(g) for g in groups], share, left=left,
                 color=colours.get(lv, PALETTE[k % len(PALETTE)]),
                 label=f"{ctx.levels[lv]} {lv}")
        left = [a + b for a, b in zip(left, share, strict=True)]
    ax1.invert_yaxis()
    ax1.set_xlim(0, 100)
    ax1.set_xlabel("占比 % Share of scored clients")
    ax1.set_title("各客群流失风险分布 Churn-risk level per group")
    ax1.legend(loc="lower center", bbox_to_anchor=(0.5, -0.5 / (0.5 * len(groups) + 2.4) - 0.1),
               ncol=len(levels), fontsize=9)
    signals = list(ctx.signals) + sorted({r[1] for r in reasons} - set(ctx.signals))
    fired = {(g, s): n for g, s, n in reasons}
    matrix = [[_pct(fired.get((g, s), 0), at_risk.get(g, 0)) for s in signals] for g in groups]
    ax2.imshow(matrix, cmap="Oranges", vmin=0, vmax=100, aspect="auto")
    for i, r in enumerate(matrix):
        for j, v in enumerate(r):
            ax2.text(j, i, f"{v:.0f}%", ha="center", va="center", fontsize=8,
                     color="white" if v > 60 else "#1f2328")
    ax2.set_xticks(range(len(signals)),
                   [f"{ctx.signal_names.get(s, s)}\n{s}" for s in signals], fontsize=8)
    ax2.set_yticks(range(len(groups)), [ctx.group(g) for g in groups], fontsize=9)
    ax2.set_title("预警客户的预警原因 Reasons among clients at risk (% of group's at-risk)")
    ax2.spines[["top", "right", "left", "bottom"]].set_visible(False)
    fig.tight_layout()
    top_rows = []
    for g in groups:
        ranked = sorted(((n, s) for (gg, s), n in fired.items() if gg == g), reverse=True)[:3]
        top_rows.append((ctx.group(g), at_risk.get(g, 0), "；".join(
            f"{ctx.signal_names.get(s, s)} {s} ({n:,})" for n, s in ranked) or "—"))
    levels_txt = "、".join(f"{ctx.levels[lv]} {lv}" for lv in ctx.at_risk_levels)
    return (figure_html(ctx, fig, "流失预警 Churn risk")
            + f"<p class=note>预警客户 = 风险等级为 {_e(levels_txt)} 的客户（rule_churn_levels）；"
              "已销户、已流失客户不评分。 At risk = the levels flagged in rule_churn_levels; "
              "closed and churned clients are not scored.</p>"
            + table_html(["客群 Group", "预警客户 At risk", "最常见原因 Most frequent reasons"],
                         top_rows))


def suitability(ctx: ReportContext) -> str:
    plt = _plt()
    rows = ctx.rows(
        """select primary_group, count(*),
                  count(*) filter (where needs_risk_assessment),
                  coalesce(case when needs_risk_assessment then 'unassessed' end, risk_level,
                           'unassessed') as lv_key
           from marts.client_segments group by primary_group, lv_key""")
    if not rows:
        return empty_html("暂无客户", "no client")
    total: dict[str, int] = {}
    need: dict[str, int] = {}
    mix: dict[tuple[str, str], int] = {}
    for g, n, k, lv in rows:
        total[g] = total.get(g, 0) + n
        need[g] = need.get(g, 0) + k
        mix[(g, lv)] = mix.get((g, lv), 0) + n
    groups = [g for g in ctx.groups if g in total] + sorted(set(total) - set(ctx.groups))
    labels = [ctx.group(g) for g in groups]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(14, 0.5 * len(groups) + 2.4))
    shares = [_pct(need[g], total[g]) for g in groups]
    ax1.barh(labels, shares, color="#9467bd")
    for i, v in enumerate(shares):
        ax1.text(v + 1, i, f"{v:.1f}% ({need[groups[i]]:,})", va="center", fontsize=8)
    ax1.invert_yaxis()
    ax1.set_xlim(0, 115)
    ax1.set_xlabel("需测评占比 % Share needing a risk assessment")
    ax1.set_title("需风险测评 Needs a risk assessment (missing or expired)")
    kinds = [*RISK_LEVELS, "unassessed"]
    shades = ["#c6dbef", "#9ecae1", "#6baed6", "#3182bd", "#08519c", "#bdbdbd"]
    left = [0.0] * len(groups)
    for lv, colour in zip(kinds, shades, strict=True):
        share = [_pct(mix.get((g, lv), 0), total[g]) for g in groups]
        ax2.barh(labels, share, left=left, color=colour,
                 label="未评估/过期 unassessed" if lv == "unassessed" else lv)
        left = [a + b for a, b in zip(left, share, strict=True)]
    ax2.invert_yaxis()
    ax2.set_xlim(0, 100)
    ax2.set_yticks(range(len(groups)), [""] * len(groups))
    ax2.set_xlabel("占比 % Share of clients")
    ax2.set_title("风险承受等级构成 Investor risk level mix")
    ax2.legend(loc="lower center", bbox_to_anchor=(0.5, -0.5 / (0.5 * len(groups) + 2.4) - 0.1),
               ncol=len(kinds), fontsize=9)
    fig.tight_layout()
    return (figure_html(ctx, fig, "适当性 Suitability")
            + "<p class=note>未测评或测评超过有效期的客户只能购买 R1 产品。"
              " Without a valid assessment a client is offered R1 products only.</p>")


@dataclass(frozen=True)
class Section:
    key: str
    title_zh: str
    title_en: str
    render: Callable[[ReportContext], str]
    blurb: str = ""


# The report, in order. Add a section here (behaviour clusters, campaigns, ...).
SECTIONS: list[Section] = [
    Section("overview", "概览", "Overview", overview),
    Section("groups", "客群规模与资产", "Group size and assets by month", group_sizes,
            "各特色客群每个月末的人数与资产。 Members and assets of each group at every "
            "month end."),
    Section("lifecycle", "生命旅程漏斗", "Lifecycle funnel", lifecycle_funnel,
            "新客 → 活跃 / 僵尸户 → 休眠 → 流失，以及最近两个月末之间的阶段流转。 "
            "new → active / zombie → dormant → churned, and how clients moved between stages "
            "over the last two month ends (primary-group rows, one per client)."),
    Section("migration", "主客群迁移", "Primary-group migration", group_migration,
            "最近两个月末之间客户主客群的变化。 How clients' primary group changed between "
            "the last two month ends."),
    Section("channels", "获客渠道", "Acquisition channels", acquisition_channels,
            "各来源渠道带来的客户中，多少成为活跃客户、多少成为僵尸户。 For each acquisition "
            "channel (来源), how many clients became active rather than zombie."),
    Section("churn", "流失预警", "Churn risk", churn_risk,
            "各主客群的流失风险等级分布与最常见的预警原因。 Churn-risk levels per primary "
            "group and the most frequent reasons."),
    Section("suitability", "投资者适当性", "Suitability", suitability,
            "各主客群需要（重新）进行风险测评的客户占比。 Share of each primary group that "
            "needs a (new) risk assessment."),
    Section("clusters", "行为客群", "Behavioural clusters (AI 精细化分群)",
            lambda ctx: cluster_section(ctx.con, heading=False),
            "规则客群之外，按资产结构、交易、资金流与线上行为聚出的客群，"
            "及其与规则客群、生命旅程的交叉。 "
            "Groups found in behaviour (asset mix, trading, flows, digital engagement) beyond "
            "the rules, and how they cut across the rule groups and lifecycle stages."),
]

CSS = """
body{font:15px/1.5 "Noto Sans CJK SC","Noto Sans CJK JP",system-ui,sans-serif;color:#1f2328;
margin:0 auto;max-width:1400px;padding:16px 24px}
h1{font-size:24px;margin:8px 0 2px}h2{font-size:19px;margin:32px 0 6px;
border-bottom:1px solid #d0d7de;padding-bottom:4px}.en{color:#57606a;font-weight:normal}
.meta,.note{color:#57606a;font-size:13px}nav a{margin-right:14px;white-space:nowrap}
img.plot{max-width:100%;height:auto;display:block;margin:8px 0}
table{border-collapse:collapse;font-size:13px;margin:8px 0}
th,td{border:1px solid #d0d7de;padding:3px 8px;text-align:left}th{background:#f6f8fa}
td.n{text-align:right;font-variant-numeric:tabular-nums}.empty{color:#9a6700}
.tiles{display:flex;flex-wrap:wrap;gap:12px}.tile{border:1px solid #d0d7de;border-radius:8px;
padding:10px 16px;min-width:150px}.tile .v{font-size:24px;font-weight:600}
"""


def render(con: duckdb.DuckDBPyConnection, sections: Sequence[Section] = SECTIONS) -> str:
    """The whole page as one HTML string."""
    configure_cjk_font()
    ctx = ReportContext.load(con)
    nav = " ".join(f'<a href="#{s.key}">{_e(s.title_zh)} {_e(s.title_en)}</a>'
                   for s in sections)
    parts = [
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>客群报告 Segment report</title>"
        f"<style>{CSS}</style></head><body>",
        "<h1>客群报告 <span class=en>Segment report</span></h1>",
        f'<p class="meta">数据日期 As of {_e(ctx.as_of)} · 规则版本 rule_version '
        f"<code>{_e(ctx.rule_version)}</code> · 生成于 generated "
        f"{datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')} · 数据来源 source: marts "
        f"({_e(', '.join(MARTS))})</p>",
        f"<nav>{nav}</nav>",
    ]
    for s in sections:
        parts.append(f'<section id="{_e(s.key)}"><h2>{_e(s.title_zh)} '
                     f'<span class="en">{_e(s.title_en)}</span></h2>')
        if s.blurb:
            parts.append(f"<p>{_e(s.blurb)}</p>")
        parts.append(s.render(ctx))
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(db: Path, out: Path | None = None) -> Path:
    """Render the report from the warehouse at `db` into `out` (atomic replace)."""
    out = Path(out) if out else state_dir(db) / REPORT_NAME
    con = connect(db)
    try:
        page = render(con)
    finally:
        con.close()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, out)
    return out


def run_report(args: argparse.Namespace) -> int:
    try:
        out = write_report(args.db, args.out)
    except ReportError as exc:
        print(f"kequn report: {exc}", file=sys.stderr)
        return 2
    print(f"segment report: {out}")
    return 0
