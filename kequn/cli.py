"""The one command-line entry point: `kequn generate | land | build | bench`."""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a YYYY-MM-DD date: {text!r}") from exc


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kequn", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    g = sub.add_parser("generate", help="write a synthetic extract that follows the raw contract")
    g.add_argument("--scale", type=float, default=0.01, help="1 = 100,000 clients (default 0.01)")
    g.add_argument("--out", type=Path, required=True, help="extract directory to write")
    g.add_argument("--seed", type=int, default=42)
    g.add_argument("--ref-date", type=_date, default=None,
                   help="last day of history (default 2025-11-28; never 'today')")
    g.add_argument("--truth", type=Path, default=None,
                   help="ground-truth folder (default: <out>.truth beside the extract)")
    g.add_argument("--append-day", action="store_true",
                   help="add the next day's delivery files to an existing extract")
    g.add_argument("--no-progress", action="store_true")
    g.add_argument("--treat-campaign", type=Path, default=None,
                   help="with --append-day: a frozen cohort (<db stem>.state/campaigns/"
                        "<name>.parquet) whose treated zombies convert (default: none)")
    g.add_argument("--treatment-effect", type=float, default=0.2,
                   help="with --treat-campaign: probability that a treated zombie starts "
                        "trading (default 0.2)")

    b = sub.add_parser("build", help="land an extract and build the warehouse from it")
    b.add_argument("--raw-dir", type=Path, required=True, help="extract directory (contract)")
    b.add_argument("--as-of", type=_date, default=None,
                   help="as-of date (default: latest snapshot date in the data)")
    b.add_argument("--db", type=Path, default=Path("warehouse/kequn.duckdb"),
                   help="published DuckDB file (default warehouse/kequn.duckdb)")
    b.add_argument("--full-refresh", action="store_true",
                   help="re-land every file and rebuild incremental models from scratch")
    b.add_argument("--max-reject-rate", type=float, default=None,
                   help="largest share of a raw table's rows that may be rejected "
                        "(default: expectations/thresholds.yml)")
    b.add_argument("--keep-builds", type=int, default=3,
                   help="published build folders to keep under <db dir>/builds (default 3)")

    la = sub.add_parser("land", help="land new raw files only (then run dbt yourself)")
    la.add_argument("--raw-dir", type=Path, required=True)
    la.add_argument("--landing-dir", type=Path, default=Path("warehouse/landing"))

    s = sub.add_parser("summary", help="print what the published warehouse says")
    s.add_argument("--db", type=Path, default=Path("warehouse/kequn.duckdb"))

    bn = sub.add_parser("bench", help="time and size the pipeline against the least work "
                        "any pipeline must do (see BENCHMARKS.md)")
    bn.add_argument("--scale", type=float, required=True, help="1 = 100,000 clients")
    bn.add_argument("--raw-dir", type=Path, default=None,
                    help="extract to reuse if it holds this scale, else to generate "
                         "(default <work>/raw)")
    bn.add_argument("--work", type=Path, default=None,
                    help="work folder: warehouse, landing, dbt target, logs "
                         "(default warehouse/bench/scale-<S>)")
    bn.add_argument("--out", type=Path, default=None,
                    help="folder for scale-<S>.json and .png (default benchmarks/results)")
    bn.add_argument("--memory-limit", default=None,
                    help="DuckDB memory limit (default $KEQUN_MEMORY_LIMIT, else 6GB)")

    # --- kequn campaign (issue 12): frozen cohorts with a control arm, kequn/campaign.py
    cp = sub.add_parser("campaign", help="freeze a campaign cohort with a control arm, or "
                        "list the frozen ones (outcomes: marts.campaign_outcomes)")
    csub = cp.add_subparsers(dest="campaign_command", required=True)
    cf = csub.add_parser("freeze", help="freeze today's members of a group into "
                         "<db stem>.state/campaigns/<name>.parquet")
    cf.add_argument("--db", type=Path, default=Path("warehouse/kequn.duckdb"),
                    help="published DuckDB file (default warehouse/kequn.duckdb)")
    cf.add_argument("--name", required=True,
                    help="campaign name (lowercase, digits, _ or -); frozen once")
    cf.add_argument("--group", required=True,
                    help="group code whose members today form the cohort (e.g. mass)")
    cf.add_argument("--branch", default=None,
                    help="only clients of this branch_id (default: every branch)")
    cf.add_argument("--control-share", type=float, default=0.1,
                    help="share of the cohort held out as the control arm (default 0.1)")
    cl = csub.add_parser("list", help="list the frozen campaigns of a warehouse")
    cl.add_argument("--db", type=Path, default=Path("warehouse/kequn.duckdb"),
                    help="published DuckDB file (default warehouse/kequn.duckdb)")

    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "generate":
        if args.treat_campaign is not None and not args.append_day:
            print("kequn generate: --treat-campaign needs --append-day", file=sys.stderr)
            return 2
        from kequn.generate import run_generate

        return run_generate(args)
    if args.command == "build":
        from kequn.build import run_build

        return run_build(args)
    if args.command == "bench":
        from kequn.bench import run_bench

        return run_bench(args)
    if args.command == "land":
        from kequn.landing import LandingError, land

        try:
            print("\n".join(land(args.raw_dir, args.landing_dir).lines()))
        except LandingError as exc:
            print(f"kequn land: the extract breaks the contract: {exc}", file=sys.stderr)
            return 2
        return 0
    if args.command == "summary":
        from kequn.summary import run_summary

        return run_summary(args)
    if args.command == "campaign":
        from kequn.campaign import run_campaign

        return run_campaign(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
