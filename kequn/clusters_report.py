"""The behavioural-cluster section of the segment report (行为客群, AI 精细化分群).

`cluster_section(con)` reads the cluster marts of a warehouse (an open DuckDB connection
to it, read-only is enough) and returns one HTML fragment: the fit (k and its silhouette
per k tried), one row per cluster with its profile in Chinese and English, size and
assets, and charts of how the clusters cut across the primary groups and lifecycle stages. Plots are
matplotlib PNGs embedded as base64. Nothing is computed here that a mart does not hold.
"""

from __future__ import annotations

import base64
import html
import io
from typing import Any

import duckdb

MARTS = ("behaviour_cluster_profiles", "behaviour_cluster_group_crosstab")


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _has_marts(con: duckdb.DuckDBPyConnection) -> bool:
    found = {r[0] for r in con.execute(
        "select table_name from information_schema.tables where table_schema = 'marts' "
        "and table_name in (?, ?)", list(MARTS)).fetchall()}
    return found == set(MARTS)


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return ('<img alt="chart" style="max-width:100%" src="data:image/png;base64,'
            + base64.b64encode(buf.getvalue()).decode("ascii") + '">')


def _criterion_chart(criterion_by_k: str, k: int) -> str:
    """Silhouette per k tried; the chosen k highlighted."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pairs = [p.split(":") for p in (criterion_by_k or "").split("; ") if ":" in p]
    if not pairs:
        return ""
    ks, values = [int(a) for a, _ in pairs], [float(b) for _, b in pairs]
    fig, ax = plt.subplots(figsize=(4.5, 2.6))
    ax.bar(ks, values, color=["#c0392b" if kk == k else "#95a5a6" for kk in ks])
    ax.set_xlabel("k")
    ax.set_ylabel("轮廓系数 silhouette")
    ax.set_title("按轮廓系数选 k（红） k chosen by silhouette (red)")
    ax.set_xticks(ks)
    return _png(fig)


def _crosstab_chart(rows: list[tuple], dimension: str) -> str:
    """Heat map: share of each cluster's clients in each value of `dimension`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    clusters = sorted({r[0] for r in rows})
    groups = sorted({r[1] for r in rows})
    if not clusters or not groups:
        return ""
    share = {(r[0], r[1]): r[2] for r in rows}
    grid = [[share.get((c, g), 0.0) for g in groups] for c in clusters]
    fig, ax = plt.subplots(figsize=(1.1 * len(groups) + 2, 0.45 * len(clusters) + 1.5))
    im = ax.imshow(grid, cmap="Blues", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(len(groups)), groups, rotation=35, ha="right")
    ax.set_yticks(range(len(clusters)), [f"客群 cluster {c}" for c in clusters])
    for i, row in enumerate(grid):
        for j, v in enumerate(row):
            ax.text(j, i, f"{v:.0%}", ha="center", va="center", fontsize=8,
                    color="white" if v > 0.6 else "black")
    zh = {"primary_group": "主客群", "lifecycle_stage": "生命旅程"}.get(dimension, dimension)
    ax.set_title(f"各行为客群的{zh}构成 Share of each cluster's clients by "
                 f"{dimension.replace('_', ' ')}")
    fig.colorbar(im, ax=ax, fraction=0.03)
    return _png(fig)


def cluster_section(con: duckdb.DuckDBPyConnection, *, heading: bool = True) -> str:
    """HTML fragment: 行为客群 / behavioural clusters of the warehouse behind `con`
    (`heading=False` where the page titles its sections itself, as the segment report does)."""
    head = "<h2>行为客群 Behavioural clusters (AI 精细化分群)</h2>" if heading else ""
    if not _has_marts(con):
        return (head + "<p>此仓库没有行为客群表。No cluster marts in this warehouse "
                "(models/marts/clusters runs on DuckDB only).</p>")
    profiles = con.execute(
        "select cluster_id, profile_zh, profile_en, clients, client_share, total_assets, "
        "assets_per_client, top_primary_group, top_primary_group_share, top_lifecycle_stage, "
        "distinguishing_features, is_new_cluster, as_of_date, k, criterion_name, "
        "criterion_value, criterion_by_k, fit_note, model_version "
        "from marts.behaviour_cluster_profiles order by clients desc, cluster_id").fetchall()
    if not profiles:
        return head + "<p>没有可聚类的客户。No clustered client at the as-of date.</p>"
    crosstabs = {dim: con.execute(
        f"select cluster_id, {dim}, sum(share_of_cluster) "
        "from marts.behaviour_cluster_group_crosstab group by 1, 2").fetchall()
        for dim in ("primary_group", "lifecycle_stage")}
    first = profiles[0]
    as_of, k, criterion, value, by_k, note, version = first[12:19]
    summary = (
        f"<p>截至 {_e(as_of)}：{_e(k)} 个行为客群，按 {_e(criterion)} 选择 k"
        f"（{_e(f'{value:.3f}' if value is not None else '—')}）。"
        f"As of {_e(as_of)}: k = {_e(k)} clusters chosen by {_e(criterion)} "
        f"({_e(f'{value:.3f}' if value is not None else 'n/a')}); tried {_e(by_k)}. "
        f"Model {_e(version)}." + (f" <em>{_e(note)}</em>" if note else "") + "</p>")
    header = ("<tr><th>客群 cluster</th><th>画像 profile</th><th>客户数 clients</th>"
              "<th>占比 share</th><th>总资产 assets (CNY)</th><th>户均 per client</th>"
              "<th>主要客群 top group</th><th>生命旅程 top stage</th>"
              "<th>区分特征 distinguishing (z)</th></tr>")
    body = []
    for (cid, zh, en, clients, share, assets, per_client, group, group_share, stage,
         features, is_new) in (p[:12] for p in profiles):
        body.append(
            f"<tr><td>{_e(cid)}{' (new)' if is_new else ''}</td>"
            f"<td><b>{_e(zh)}</b><br><small>{_e(en)}</small></td>"
            f"<td style='text-align:right'>{clients:,}</td>"
            f"<td style='text-align:right'>{share:.1%}</td>"
            f"<td style='text-align:right'>{float(assets or 0):,.0f}</td>"
            f"<td style='text-align:right'>{float(per_client or 0):,.0f}</td>"
            f"<td>{_e(group)} ({(group_share or 0):.0%})</td><td>{_e(stage)}</td>"
            f"<td><small>{_e(features)}</small></td></tr>")
    table = "<table>" + header + "".join(body) + "</table>"
    charts = _criterion_chart(by_k, k) + "".join(
        _crosstab_chart(rows, dim) for dim, rows in crosstabs.items())
    return f'<section id="behaviour-clusters">{head}{summary}{table}{charts}</section>'
