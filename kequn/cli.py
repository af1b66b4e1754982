"""kequn (客群): client segmentation for a securities brokerage.

The one command-line entry point. Each subcommand is its own block in `_parser()` and
`main()`; every option says what it does and its default (tests/python/test_cli.py walks
the parser and fails on an option that does not).
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

from kequn import __version__

DEFAULT_DB = Path("warehouse/kequn.duckdb")


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a YYYY-MM-DD date: {text!r}") from exc


def _command(sub, name: str, summary: str, description: str) -> argparse.ArgumentParser:
    """A subcommand with a one-line summary (in `kequn --help`) and a description."""
    return sub.add_parser(name, help=summary, description=f"{summary}.\n\n{description}",
                          formatter_class=argparse.RawDescriptionHelpFormatter)


def _db_option(parser: argparse.ArgumentParser, how: str = "") -> None:
    """The published warehouse a command works on (every command that reads or builds one)."""
    parser.add_argument("--db", type=Path, default=DEFAULT_DB,
                        help=f"published DuckDB file{how} (default {DEFAULT_DB})")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="kequn", description=__doc__.split("\n\n")[0],
        epilog="Start with `make demo`; `kequn COMMAND --help` describes each command. "
               "Documents: README.md, docs/raw_extracts.md, docs/segmentation.md.")
    p.add_argument("--version", action="version", version=f"kequn {__version__}",
                   help="print the version and exit")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    g = _command(sub, "generate", "write a synthetic extract that follows the raw contract",
                 "Writes <out>/<table>/ CSV and Parquet files (docs/raw_extracts.md) with "
                 "planted dirt, and the\nground truth of what was planted beside it.")
    g.add_argument("--scale", type=float, default=0.01, help="1 = 100,000 clients (default 0.01)")
    g.add_argument("--out", type=Path, required=True,
                   help="extract directory to write (required)")
    g.add_argument("--seed", type=int, default=42,
                   help="random seed: the same seed writes the same extract (default 42)")
    g.add_argument("--ref-date", type=_date, default=None,
                   help="last day of history (default 2025-11-28; never 'today')")
    g.add_argument("--truth", type=Path, default=None,
                   help="ground-truth folder (default: <out>.truth beside the extract)")
    g.add_argument("--append-day", action="store_true",
                   help="add the next day's delivery files to an existing extract "
                        "(default: write a new extract)")
    g.add_argument("--no-progress", action="store_true",
                   help="no progress bars (default: show them)")
    g.add_argument("--treat-campaign", type=Path, default=None,
                   help="with --append-day: a frozen cohort (<db stem>.state/campaigns/"
                        "<name>.parquet) whose treated zombies convert (default: none)")
    g.add_argument("--treatment-effect", type=float, default=0.2,
                   help="with --treat-campaign: share of the treated zombies that start "
                        "trading (default 0.2)")

    b = _command(sub, "build", "land an extract and build the warehouse from it",
                 "Lands new raw files, runs the raw gate, dbt build (every dbt test), the "
                 "marts gate, and\npublishes --db atomically only when all passed. Prints a "
                 "line per stage; each build's\nfolder keeps dbt's complete log, the GX "
                 "results and report.html.")
    b.add_argument("--raw-dir", type=Path, required=True,
                   help="extract directory following docs/raw_extracts.md (required)")
    b.add_argument("--as-of", type=_date, default=None,
                   help="as-of date (default: latest snapshot date in the data)")
    _db_option(b)
    b.add_argument("--target", choices=["duckdb", "postgres"], default="duckdb",
                   help="engine: duckdb builds --db; postgres loads the extract into the "
                        "database of the KEQUN_PG_* variables and builds, gates and publishes "
                        "its schemas there (README, \"Other targets\") (default duckdb)")
    b.add_argument("--full-refresh", action="store_true",
                   help="re-land every file and rebuild incremental models from scratch "
                        "(default: a nightly build of what is new)")
    b.add_argument("--max-reject-rate", type=float, default=None,
                   help="largest share of a raw table's rows that may be rejected "
                        "(default: expectations/thresholds.yml)")
    b.add_argument("--keep-builds", type=int, default=3,
                   help="published build folders to keep under <db dir>/builds (default 3)")
    noise = b.add_mutually_exclusive_group()
    noise.add_argument("--verbose", action="store_true",
                       help="also print dbt's own line per node (default: one line per "
                            "stage and a progress bar)")
    noise.add_argument("--quiet", action="store_true",
                       help="print only the result, failures on stderr, for cron "
                            "(default: one line per stage)")

    la = _command(sub, "land", "land new raw files only (then run dbt yourself)",
                  "Checks each new delivered file against the contract and records it in the "
                  "landing folder's\nmanifest and file list (no copy: dbt reads the files "
                  "in place). `kequn build` does this itself.")
    la.add_argument("--raw-dir", type=Path, required=True,
                    help="extract directory following docs/raw_extracts.md (required)")
    la.add_argument("--landing-dir", type=Path, default=Path("warehouse/kequn.state/landing"),
                    help="landing folder to append to "
                         "(default warehouse/kequn.state/landing, the default warehouse's)")

    s = _command(sub, "summary", "print what the published warehouse says, for the business",
                 "Clients, assets and high-net-worth clients per primary group, churn risk by "
                 "group, lifecycle\nstage by acquisition channel and asset tiers, with the "
                 "Chinese names from seeds/rules/.")
    _db_option(s)
    s.add_argument("--lang", choices=["zh", "en"], default="zh",
                   help="zh: Chinese names and headers first; en: codes and English "
                        "headers first (default zh)")

    bn = _command(sub, "bench", "time and size the pipeline against the least work "
                  "any pipeline must do", "Figures, method and plots: BENCHMARKS.md.")
    from kequn.bench_series import DEFAULT_SERIES

    what = bn.add_mutually_exclusive_group(required=True)
    what.add_argument("--scale", type=float, default=None,
                      help="one scale: 1 = 100,000 clients "
                           "(default none: give --scale or --series)")
    what.add_argument("--series", nargs="?", const=DEFAULT_SERIES, default=None,
                      metavar="S1,S2,...",
                      help="measure each scale in one run, plot cost against raw rows "
                           f"(log-log) and fit the slope (default {DEFAULT_SERIES})")
    bn.add_argument("--raw-dir", type=Path, default=None,
                    help="extract to reuse if it holds this scale, else to generate "
                         "(default <work>/raw; --scale only)")
    bn.add_argument("--work", type=Path, default=None,
                    help="work folder: warehouse, landing, dbt target, logs (default "
                         "warehouse/bench/scale-<S>; with --series the folder holding one "
                         "scale-<S> per scale, default warehouse/bench)")
    bn.add_argument("--out", type=Path, default=None,
                    help="folder for scale-<S>.json and .png, and series-<S1>_<S2>_....json "
                         "and .png (default benchmarks/results)")
    bn.add_argument("--target", default="duckdb", metavar="E1,E2",
                    help="engines to measure the scale on, in turn, with a side-by-side "
                         "engines-<S>.json and .png: duckdb, postgres (the private cluster; "
                         "--scale only) (default duckdb)")
    bn.add_argument("--memory-limit", default=None,
                    help="DuckDB memory limit (default $KEQUN_MEMORY_LIMIT, else 6GB)")

    rp = _command(sub, "report", "write the segment report (客群报告): one offline HTML page "
                  "of plots from the published marts",
                  "Group sizes and assets by month, the lifecycle funnel, primary-group "
                  "migration,\nacquisition channels, churn risk and suitability; Chinese labels "
                  "with English beside.")
    _db_option(rp, ", opened read-only")
    rp.add_argument("--out", type=Path, default=None,
                    help="HTML file to write (default <db state dir>/segment_report.html, "
                         "e.g. warehouse/kequn.state/segment_report.html)")

    dc = _command(sub, "docs", "write the docs site: dbt docs, GX Data Docs and the segment "
                  "report behind one index page, all offline",
                  "dbt docs run against a copy of the warehouse; the published file is never "
                  "opened\nfor writing. Every asset is local (npm packages in node_modules/).")
    _db_option(dc, ", never opened for writing")
    dc.add_argument("--out", type=Path, default=None,
                    help="site folder, replaced whole (default <db state dir>/docs, "
                         "e.g. warehouse/kequn.state/docs)")

    # --- kequn export (issue 11: advisor call lists, campaign audiences, Feast layout) ---
    ex = _command(sub, "export", "write the advisor call lists and online campaign audiences "
                  "(per branch and group) from the published warehouse",
                  "CSV, Parquet and XLSX per list, branch and group, keyed by client_id and "
                  "never holding PII;\nwhich list a client is on and the next action come from "
                  "marts.client_outreach_lists.")
    _db_option(ex)
    ex.add_argument("--out", type=Path, required=True,
                    help="folder to write, replaced whole if it holds an earlier export "
                         "(required)")
    ex.add_argument("--group", default=None,
                    help="primary group codes to keep, comma-separated (default: all)")
    ex.add_argument("--branch", default=None,
                    help="branch ids to keep, comma-separated; 'unassigned' = no branch "
                         "(default: all)")
    ex.add_argument("--lifecycle", default=None,
                    help="lifecycle stages to keep, comma-separated (default: all)")
    ex.add_argument("--risk-level", default=None,
                    help="churn risk levels to keep (high, medium, low), comma-separated "
                         "(default: all)")
    ex.add_argument("--format", default="csv,parquet,xlsx",
                    help="file formats, comma-separated (default csv,parquet,xlsx)")
    ex.add_argument("--feast", action="store_true",
                    help="also write the churn training data as a Feast FileSource layout "
                         "under <out>/feast (default: off)")

    # --- kequn campaign (issue 12): frozen cohorts with a control arm, kequn/campaign.py
    cp = _command(sub, "campaign", "freeze a campaign cohort with a control arm, or list the "
                  "frozen ones",
                  "A frozen cohort is kept in <db stem>.state/campaigns/; every later build "
                  "measures its\noutcomes against the control arm in marts.campaign_outcomes.")
    csub = cp.add_subparsers(dest="campaign_command", required=True)
    cf = csub.add_parser("freeze", help="freeze today's members of a group into "
                         "<db stem>.state/campaigns/<name>.parquet")
    _db_option(cf)
    cf.add_argument("--name", required=True,
                    help="campaign name (lowercase, digits, _ or -); frozen once")
    cf.add_argument("--group", required=True,
                    help="group code whose members today form the cohort (e.g. mass)")
    cf.add_argument("--branch", default=None,
                    help="only clients of this branch_id (default: every branch)")
    cf.add_argument("--control-share", type=float, default=0.1,
                    help="share of the cohort held out as the control arm (default 0.1)")
    cl = csub.add_parser("list", help="list the frozen campaigns of a warehouse")
    _db_option(cl)

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
        if args.target == "postgres":
            from kequn.engines.pg_build import run_pg_build

            return run_pg_build(args)
        from kequn.build import run_build

        return run_build(args)
    if args.command == "bench":
        if args.target != "duckdb":
            from kequn.bench_engines import engines_of, run_engines

            try:
                names = engines_of(args.target)
            except ValueError as exc:
                print(f"kequn bench: {exc}", file=sys.stderr)
                return 2
            if args.series:
                print("kequn bench: --target measures one --scale", file=sys.stderr)
                return 2
            return run_engines(args, names)
        if args.series:
            from kequn.bench_series import run_series

            return run_series(args)
        from kequn.bench import run_bench

        return run_bench(args)
    if args.command == "land":
        from kequn.landing import LandingError, RawDirError, land

        try:
            landed = land(args.raw_dir, args.landing_dir)
            print("\n".join(landed.lines()))
            if landed.transcoded:
                print(f"GB18030 files transcoded to UTF-8 for dbt in {landed.transcoded}: "
                      "they hold delivered values (PII); delete the folder after the dbt run")
        except RawDirError as exc:
            print(f"kequn land: {exc}", file=sys.stderr)
            return 2
        except LandingError as exc:
            print(f"kequn land: the extract breaks the contract: {exc}", file=sys.stderr)
            return 2
        return 0
    if args.command == "summary":
        from kequn.summary import run_summary

        return run_summary(args)
    if args.command == "report":
        from kequn.segment_report import run_report

        return run_report(args)
    if args.command == "docs":
        from kequn.docs_site import run_docs

        return run_docs(args)
    if args.command == "export":
        from kequn.export import run_export

        return run_export(args)
    if args.command == "campaign":
        from kequn.campaign import run_campaign

        return run_campaign(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
