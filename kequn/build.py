"""`kequn build`: land the extract, run dbt, print what happened."""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

from kequn.dbt import DbtError, dbt_env, run_dbt
from kequn.landing import LandingError, land


def run_build(args: argparse.Namespace) -> int:
    db: Path = args.db.resolve()
    home = db.parent
    landing_dir = home / "landing"
    home.mkdir(parents=True, exist_ok=True)
    if args.full_refresh and landing_dir.exists():
        shutil.rmtree(landing_dir)
    start = time.perf_counter()
    try:
        report = land(args.raw_dir, landing_dir)
    except LandingError as exc:
        print(f"kequn build: the extract breaks the contract: {exc}", file=sys.stderr)
        return 2
    print("\n".join(report.lines()))
    dbt_args = ["build"]
    if args.as_of:
        dbt_args += ["--vars", f"{{as_of_date: '{args.as_of.isoformat()}'}}"]
    if args.full_refresh:
        dbt_args.append("--full-refresh")
    try:
        with dbt_env(db, landing_dir):
            run_dbt(dbt_args)
    except DbtError as exc:
        print(f"kequn build: {exc}", file=sys.stderr)
        return 1
    print(f"built {db} in {time.perf_counter() - start:.1f}s")
    return 0
