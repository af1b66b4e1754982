"""Print the behavioural-cluster figures of a built warehouse (issue 12, BENCHMARKS.md).

    python benchmarks/cluster_figures.py --db <warehouse.duckdb> [--run-results FILE] [--json OUT]

k and the silhouette of every k tried, each cluster's size, assets and profile, the share
of each cluster's clients per primary group (the cross-tab against the rule groups), and,
given the build's dbt `run_results.json`, the seconds each cluster model took inside
`dbt build`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import duckdb

CLUSTER_NODES = ("int_client_behaviour_features_prepared", "int_behaviour_clusters_fitted",
                 "int_client_behaviour_clusters_assigned", "client_behaviour_clusters",
                 "behaviour_cluster_profiles", "behaviour_cluster_centroids",
                 "behaviour_cluster_group_crosstab")


def figures(db: Path, run_results: Path | None) -> dict:
    con = duckdb.connect(str(db), read_only=True)
    try:
        cols = ["cluster_id", "clients", "client_share", "total_assets", "assets_per_client",
                "distinguishing_features", "profile_zh", "profile_en", "top_primary_group",
                "top_primary_group_share", "top_lifecycle_stage", "k", "criterion_value",
                "criterion_by_k", "fit_note", "model_version", "as_of_date"]
        profiles = [dict(zip(cols, r, strict=True)) for r in con.execute(
            f"select {', '.join(cols)} from marts.behaviour_cluster_profiles "
            "order by clients desc").fetchall()]
        crosstab = con.execute(
            "select cluster_id, primary_group, sum(clients), sum(share_of_cluster) "
            "from marts.behaviour_cluster_group_crosstab group by 1, 2 order by 1, 2").fetchall()
    finally:
        con.close()
    timings = {}
    if run_results and run_results.exists():
        for r in json.loads(run_results.read_text(encoding="utf-8"))["results"]:
            name = r["unique_id"].split(".")[-1]
            if r["unique_id"].startswith("model.") and name in CLUSTER_NODES:
                timings[name] = round(float(r["execution_time"]), 2)
    return {"profiles": profiles, "crosstab": crosstab, "model_seconds": timings}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", type=Path, required=True, help="the warehouse (required)")
    ap.add_argument("--run-results", type=Path, default=None,
                    help="the build's target/run_results.json (default: none, no timings)")
    ap.add_argument("--json", type=Path, default=None, help="also write JSON here (default: no)")
    args = ap.parse_args()
    out = figures(args.db, args.run_results)
    p = out["profiles"]
    if not p:
        print("no clusters")
        return
    print(f"as of {p[0]['as_of_date']}: k = {p[0]['k']}, silhouette {p[0]['criterion_value']:.4f}"
          f" (by k: {p[0]['criterion_by_k']}); {p[0]['fit_note'] or 'no fit note'}")
    print("| id | clients | share | assets per client (CNY) | profile | top group | stage | z |")
    print("|---|---|---|---|---|---|---|---|")
    for r in p:
        print(f"| {r['cluster_id']} | {r['clients']:,} | {r['client_share']:.1%} | "
              f"{float(r['assets_per_client'] or 0):,.0f} | {r['profile_zh']} / {r['profile_en']}"
              f" | {r['top_primary_group']} ({r['top_primary_group_share']:.0%}) | "
              f"{r['top_lifecycle_stage']} | {r['distinguishing_features']} |")
    groups = sorted({g for _, g, _, _ in out["crosstab"]})
    print("\nshare of each cluster's clients by primary group")
    print("| id | " + " | ".join(groups) + " |")
    print("|---" * (len(groups) + 1) + "|")
    share = {(c, g): s for c, g, _, s in out["crosstab"]}
    for r in p:
        print(f"| {r['cluster_id']} | " + " | ".join(
            f"{share.get((r['cluster_id'], g), 0):.0%}" for g in groups) + " |")
    if out["model_seconds"]:
        print("\nseconds inside dbt build: " + ", ".join(
            f"{k} {v}" for k, v in out["model_seconds"].items()))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1, default=str, ensure_ascii=False),
                             encoding="utf-8")


if __name__ == "__main__":
    main()
