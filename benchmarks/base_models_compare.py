"""Build the base models (and their _rejected twins) of two checkouts on one extract, compare
them row for row and report what each build cost (issue 9 item 3, BENCHMARKS.md).

    nice -n 19 python benchmarks/base_models_compare.py --raw-dir <extract> \
        --work <folder> --project before=<checkout> --project after=<checkout>

The extract is landed once (kequn.landing.land) and both checkouts' dbt projects read that
landing folder, each into its own DuckDB file under --work. Per project: `dbt seed`, then
`dbt run -s base_brokerage__*` in a child process timed with getrusage (user + system CPU of
the process tree, wall, peak RSS), dbt's per-model `execution_time` (run_results.json) and
each model's CPU (the dbt process's CPU clock, sampled every 0.1 s, between the model's
start and end in run_results.json),
then `dbt run -s stg_brokerage__*_rejected`, untimed. Last, every base and _rejected
relation of the first project is compared with the second's by EXCEPT ALL both ways on
the same columns; a difference in rows or columns fails the script (exit 1).
One thread for dbt (`--threads 1`) so the per-model times are not two models at once.
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import resource
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import duckdb

from kequn.landing import land

BASE = "base_brokerage__*"
REJECTED = "stg_brokerage__*_rejected"


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU of a running process (all its threads: DuckDB runs inside dbt)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _dbt(project: Path, db: Path, landing: Path, target: Path, args: list[str]) -> dict:
    """Run one dbt command in a child process: its CPU, wall and peak memory, and the CPU
    clock sampled every 0.1 s as (unix time, CPU seconds), to split the CPU per model."""
    env = {**os.environ, "KEQUN_DB": str(db), "KEQUN_LANDING_DIR": str(landing),
           "KEQUN_TEMP_DIR": str(db.parent / "tmp"), "DO_NOT_TRACK": "1"}
    dbt = Path(sys.executable).parent / "dbt"
    cmd = [str(dbt), *args, "--threads", "1", "--project-dir", str(project),
           "--profiles-dir", str(project), "--target-path", str(target)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    samples: list[tuple[float, float]] = []
    with subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True) as child:
        output: list[str] = []
        reader = threading.Thread(target=lambda: output.extend(child.stdout), daemon=True)
        reader.start()
        while child.poll() is None:
            cpu = _cpu_seconds(child.pid)
            if cpu is not None:
                samples.append((time.time(), cpu))
            time.sleep(0.1)
        reader.join()
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if child.returncode != 0:
        raise SystemExit(f"{project}: dbt {' '.join(args)} failed:\n{''.join(output)[-4000:]}")
    return {"cpu_s": round((after.ru_utime - before.ru_utime)
                           + (after.ru_stime - before.ru_stime), 1),
            "wall_s": round(wall, 1),
            "peak_rss_mib": round(after.ru_maxrss / 1024),
            "samples": samples}


def _cpu_at(samples: list[tuple[float, float]], when: float) -> float:
    """The sampled CPU clock at a moment (the last sample at or before it)."""
    i = bisect.bisect_right([t for t, _ in samples], when)
    return samples[max(i - 1, 0)][1]


def _model_times(target: Path, samples: list[tuple[float, float]]) -> dict[str, dict]:
    """Per model: dbt's execution_time (wall) and the process CPU between its start and end."""
    results = json.loads((target / "run_results.json").read_text())["results"]
    out = {}
    for r in results:
        name = r["unique_id"].split(".")[-1]
        if not name.startswith("base_"):
            continue
        times = [datetime.fromisoformat(t[k].replace("Z", "+00:00")).timestamp()
                 for t in r["timing"] for k in ("started_at", "completed_at")]
        cpu = _cpu_at(samples, max(times)) - _cpu_at(samples, min(times)) if samples else None
        out[name] = {"wall_s": round(r["execution_time"], 1),
                     "cpu_s": None if cpu is None else round(cpu, 1)}
    return out


def build(name: str, project: Path, work: Path, landing: Path, select: str) -> dict:
    db = work / name / "base.duckdb"
    db.parent.mkdir(parents=True, exist_ok=True)
    db.unlink(missing_ok=True)
    target = work / name / "target"
    _dbt(project, db, landing, target, ["seed", "--full-refresh"])
    process = _dbt(project, db, landing, target, ["run", "-s", select, "--full-refresh"])
    models = _model_times(target, process.pop("samples"))
    if select == BASE:
        _dbt(project, db, landing, target, ["run", "-s", REJECTED, "--full-refresh"])
    return {"db": str(db), "process": process, "models": models}


def compare(left: Path, right: Path) -> dict[str, dict]:
    """Rows of each base/_rejected relation only in left and only in right."""
    con = duckdb.connect()
    con.execute(f"attach '{left}' as l (read_only)")
    con.execute(f"attach '{right}' as r (read_only)")
    tables = [t for (t,) in con.execute(
        "select table_name from duckdb_tables() where database_name = 'l' "
        "and schema_name = 'staging' and (table_name like 'base\\_brokerage\\_\\_%' escape '\\' "
        "or table_name like '%\\_rejected' escape '\\') order by 1").fetchall()]
    out = {}
    for t in tables:
        cols = [c for (c,) in con.execute(
            "select column_name from duckdb_columns() where database_name = 'l' "
            "and schema_name = 'staging' and table_name = ? order by column_index", [t]).fetchall()]
        right_cols = [c for (c,) in con.execute(
            "select column_name from duckdb_columns() where database_name = 'r' "
            "and schema_name = 'staging' and table_name = ? order by column_index", [t]).fetchall()]
        if cols != right_cols:
            out[t] = {"columns_differ": sorted(set(cols) ^ set(right_cols))}
            continue
        sel = ", ".join(f'"{c}"' for c in cols)
        only = {}
        for a, b in (("l", "r"), ("r", "l")):
            only[a] = con.execute(
                f"select count(*) from (select {sel} from {a}.staging.{t} "
                f"except all select {sel} from {b}.staging.{t})").fetchone()[0]
        rows = con.execute(f"select count(*) from l.staging.{t}").fetchone()[0]
        rejects = (con.execute(f"select count(*) from l.staging.{t} where _reject_reason "
                               "is not null").fetchone()[0] if "_reject_reason" in cols else None)
        out[t] = {"rows": rows, "rejected": rejects, "only_first": only["l"],
                  "only_second": only["r"]}
    con.close()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--raw-dir", type=Path, required=True, help="extract to land (required)")
    ap.add_argument("--work", type=Path, required=True,
                    help="folder for the landing folder, both databases and targets (required)")
    ap.add_argument("--project", action="append", required=True,
                    help="name=checkout of a dbt project, twice (required)")
    ap.add_argument("--select", default=BASE,
                    help=f"base models to build and time (default {BASE}; the _rejected "
                         "models are built and compared only with the default)")
    ap.add_argument("--json", type=Path, help="write the figures here (default: stdout only)")
    args = ap.parse_args(argv)
    projects = [p.split("=", 1) for p in args.project]
    if len(projects) != 2:
        ap.error("give --project twice")
    args.work = args.work.resolve()
    args.work.mkdir(parents=True, exist_ok=True)
    landing = args.work / "landing"
    if not (landing / "_delivered.jsonl").exists():
        land(args.raw_dir, landing, progress=False)
    builds = {name: build(name, Path(path).resolve(), args.work, landing, args.select)
              for name, path in projects}
    (n1, _), (n2, _) = projects
    diff = compare(Path(builds[n1]["db"]), Path(builds[n2]["db"]))
    figures = {"builds": builds, "compare": diff}
    text = json.dumps(figures, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    bad = [t for t, d in diff.items() if d.get("columns_differ") or d["only_first"]
           or d["only_second"]]
    if bad:
        print(f"differ: {', '.join(bad)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
