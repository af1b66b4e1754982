"""`kequn bench`: time and size the pipeline against the least work any pipeline must do.

One run measures these steps, each in its own subprocess so that its peak memory is its own
(the RSS of the step's whole process tree, sampled every 0.2 s, cross-checked against the
kernel's exact peak of its largest process), with wall time and CPU time (user + system,
from `wait4`, so it covers every process of the step):

    generate     `kequn generate` (only when the extract is not reused)
    limit        DuckDB alone reads every raw file once, casts each column to its type and
                 writes Parquet: the least work any pipeline must do (no dbt, no landing)
    full         `kequn build --full-refresh` into an empty work folder
    append_day   `kequn generate --append-day` on a hard-linked snapshot of the extract
    nightly      `kequn build` (no full refresh) of that snapshot onto the full build's warehouse

The nightly step works on a snapshot (`<work>/raw-nightly`: hard links to the delivered
files, which the contract says are never rewritten, plus a copy of the ground truth), so the
extract itself stays as generated and the next run at the same scale can reuse it.

Results go to `<out>/scale-<S>.json` and `<out>/scale-<S>.png`; see BENCHMARKS.md.
The limit step is also runnable on its own (`python -m kequn.bench limit RAW OUT`), and
`python -m kequn.bench table RESULT.json...` prints the result files as a Markdown table.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from kequn import DEFAULT_MEMORY_LIMIT, PROJECT_DIR
from kequn.state import state_dir

SAMPLE_SECONDS = 0.2
HEARTBEAT_SECONDS = 30.0
GIB = 1024**3
CLIENTS_PER_SCALE = 100_000

# Targets of issue 9, each stated for one scale (1 = 100,000 clients). Every scale the bench
# measures reports the ratio targets as hints; a verdict counts at the stated scale.
TARGET_SCALE = 10.0
DEMO_SCALE = 0.02
TARGET_PEAK_BYTES = 8 * GIB
TARGET_GENERATE_SECONDS = 15 * 60   # issue 5
RATIO_TARGETS = (
    # (stated scale, target, figure measured, limit)
    (TARGET_SCALE, "full build wall <= 3x limit", "full_over_limit_wall", 3.0),
    (TARGET_SCALE, "nightly wall <= 5% of full", "nightly_over_full_wall", 0.05),
    (TARGET_SCALE, "gates <= 10% of full build", "gates_over_full_wall", 0.10),
    (1.0, "full build wall <= 5x limit", "full_over_limit_wall", 5.0),
)
DEMO_TARGET = (DEMO_SCALE, "demo build <= 30 s (full build wall)", "wall_s", 30.0)
PEAK_TARGET = "peak memory <= 8 GiB (limit, full, nightly)"

PIPELINE_STEPS = ("limit", "full", "nightly")
STEP_LABELS = {
    "generate": "generate the extract",
    "limit": "limit: DuckDB reads every raw file once, casts, writes Parquet",
    "full": "full build (kequn build --full-refresh)",
    "append_day": "append one day (kequn generate --append-day)",
    "nightly": "nightly build (kequn build, incremental)",
}

# The limit step's casts: what each raw text column becomes when typed. Columns not listed
# stay text. This is a yardstick, not the pipeline: staging's SQL is the home of the real
# parsing rules; these casts only make the limit pay for parsing dates, timestamps and
# decimals the way any pipeline must.
LIMIT_TYPES: dict[str, dict[str, str]] = {
    "clients": {
        "birth_date": "date", "children_count": "int", "youngest_child_birth_year": "int",
        "risk_assessed_date": "date", "open_date": "date", "close_date": "date",
        "updated_at": "timestamp",
    },
    "accounts": {"open_date": "date", "close_date": "date", "updated_at": "timestamp"},
    "products": {},
    "fx_rates": {"rate_date": "date", "cny_per_unit": "rate"},
    "holdings": {
        "snapshot_date": "date", "quantity": "decimal", "market_value": "decimal",
        "cost_value": "decimal", "is_restricted": "flag",
    },
    "balances": {"snapshot_date": "date", "cash_balance": "decimal", "margin_debt": "decimal"},
    "trades": {
        "trade_time": "timestamp", "quantity": "decimal", "price": "decimal",
        "amount": "decimal", "fee": "decimal", "updated_at": "timestamp",
    },
    "cash_transfers": {"transfer_time": "timestamp", "amount": "decimal"},
    "app_events": {"event_date": "date", "event_count": "int"},
}
_CASTS = {
    "date": "cast(try_strptime({c}, ['%Y-%m-%d', '%Y%m%d', '%Y/%m/%d']) as date)",
    "timestamp": (
        "coalesce(try_strptime({c}, ['%Y-%m-%d %H:%M:%S', '%Y%m%d %H%M%S']), "
        "try_strptime(left({c}, 19), '%Y-%m-%dT%H:%M:%S'))"
    ),
    "decimal": "try_cast({c} as decimal(18, 4))",
    "rate": "try_cast({c} as decimal(18, 6))",
    "int": "try_cast({c} as integer)",
    "flag": "case upper(trim({c})) when 'Y' then true when 'N' then false end",
}


def fmt_scale(scale: float) -> str:
    return format(scale, "g")


def _sql_str(value: str | Path) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _sql_list(paths: list[Path]) -> str:
    return "[" + ", ".join(_sql_str(p) for p in paths) + "]"


# --------------------------------------------------------------------------- limit step


def limit_copy(raw_dir: Path, out_dir: Path, *, memory_limit: str, temp_dir: Path) -> dict:
    """Read every raw file once, cast columns to their types, write one Parquet per table."""
    import duckdb

    from kequn.contract import raw_tables

    out_dir.mkdir(parents=True, exist_ok=True)
    temp_dir.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(config={
        "threads": 2, "memory_limit": memory_limit, "temp_directory": str(temp_dir),
        "preserve_insertion_order": False,
    })
    tables: dict[str, dict] = {}
    for table, columns in raw_tables().items():
        start = time.perf_counter()
        files = sorted(p for p in (raw_dir / table).rglob("*") if p.is_file())
        csvs = [p for p in files if p.suffix.lower() == ".csv"]
        parquets = [p for p in files if p.suffix.lower() == ".parquet"]
        as_text = ", ".join(f'cast("{c}" as varchar) as "{c}"' for c in columns)
        parts = []
        if csvs:
            parts.append(
                f"select {as_text} from read_csv({_sql_list(csvs)}, all_varchar = true, "
                "header = true, delim = ',', quote = '\"', escape = '\"', union_by_name = true)"
            )
        if parquets:
            parts.append(
                f"select {as_text} from read_parquet({_sql_list(parquets)}, union_by_name = true)"
            )
        if not parts:
            tables[table] = {"files": 0, "rows": 0, "seconds": 0.0, "parquet_bytes": 0}
            continue
        types = LIMIT_TYPES.get(table, {})
        typed = ", ".join(
            (_CASTS[types[c]].format(c=f'"{c}"') + f' as "{c}"') if c in types else f'"{c}"'
            for c in columns
        )
        target = out_dir / f"{table}.parquet"
        (rows,) = con.execute(
            f"copy (select {typed} from ({' union all '.join(parts)})) to {_sql_str(target)} "
            "(format parquet, compression zstd, row_group_size 250000)"
        ).fetchone()
        tables[table] = {
            "files": len(csvs) + len(parquets),
            "rows": int(rows),
            "seconds": round(time.perf_counter() - start, 3),
            "parquet_bytes": target.stat().st_size,
        }
        print(f"  limit {table}: {len(csvs) + len(parquets)} files, {int(rows):,} rows "
              f"in {tables[table]['seconds']:.1f}s", flush=True)
    con.close()
    return {"tables": tables}


def _limit_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="python -m kequn.bench limit")
    p.add_argument("raw_dir", type=Path)
    p.add_argument("out_dir", type=Path)
    p.add_argument("--memory-limit",
                   default=os.environ.get("KEQUN_MEMORY_LIMIT", DEFAULT_MEMORY_LIMIT))
    p.add_argument("--temp-dir", type=Path, default=None)
    p.add_argument("--result", type=Path, default=None, help="write the row counts here (JSON)")
    args = p.parse_args(argv)
    temp = args.temp_dir or Path(os.environ.get("KEQUN_TEMP_DIR", args.out_dir / "tmp"))
    result = limit_copy(args.raw_dir, args.out_dir, memory_limit=args.memory_limit,
                        temp_dir=temp)
    if args.result:
        args.result.write_text(json.dumps(result, indent=1), encoding="utf-8")
    return 0


def markdown_table(results: list[dict]) -> str:
    """One row per result file, for BENCHMARKS.md (`python -m kequn.bench table FILE...`)."""

    def step(r: dict, name: str) -> str:
        s = r["steps"].get(name)
        if not s:
            return "–"
        if s["status"] != "ok":
            return s["status"]
        return (f"{s['wall_s']:.1f} / {s['cpu_s']:.1f} s, "
                f"{s['peak_rss_bytes'] / GIB:.2f} GiB")

    def ratio(v: float | None, fmt: str) -> str:
        return "–" if v is None else fmt.format(v)

    head = ("| scale (clients) | raw: rows, MB | generate | limit | full | nightly "
            "| full/limit | nightly/full | DuckDB MB | load 1m |\n"
            "|---|---|---|---|---|---|---|---|---|---|")
    rows = [head]
    for r in sorted(results, key=lambda r: r["scale"]):
        raw = r["raw"]
        loads = [s.get("load_avg_1m_before") for s in r["steps"].values()
                 if s.get("load_avg_1m_before") is not None
                 and not s.get("reused_measurement")]
        db = r["sizes"].get("duckdb_after_full_bytes")
        rows.append(
            f"| {fmt_scale(r['scale'])} ({r['clients_nominal']:,}) "
            f"| {raw.get('rows') or 0:,}, {raw.get('bytes', 0) / 1e6:.0f} "
            f"| {step(r, 'generate')} | {step(r, 'limit')} | {step(r, 'full')} "
            f"| {step(r, 'nightly')} "
            f"| {ratio(r['ratios']['full_over_limit_wall'], '{:.1f}x')} "
            f"| {ratio(r['ratios']['nightly_over_full_wall'], '{:.0%}')} "
            f"| {'–' if db is None else f'{db / 1e6:.0f}'} "
            f"| {'–' if not loads else f'{min(loads):.1f}–{max(loads):.1f}'} |")
    return "\n".join(rows)


# --------------------------------------------------------------------------- measuring


def _tree_rss(proc) -> int:
    """Resident memory of a process and all its descendants, in bytes."""
    import psutil

    try:
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for p in procs:
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return total


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _tail(path: Path, lines: int = 25) -> str:
    """The last lines of a log, without terminal colour codes or progress-bar redraws."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    text = _ANSI.sub("", text)
    kept = [line.rsplit("\r", 1)[-1] for line in text.rstrip().splitlines()[-lines:]]
    return "\n".join(kept)


def _indent(text: str, prefix: str = "      ") -> str:
    return prefix + text.replace("\n", "\n" + prefix)


def _last_line(path: Path) -> str:
    tail = _tail(path, 1).strip()
    return tail[:100]


def _tree_cpu(proc: Any) -> float:
    """CPU seconds of a process, its reaped children (a server's finished backends) and its
    live descendants: the delta over a step is what the process tree did meanwhile."""
    import psutil

    try:
        t = proc.cpu_times()
        total = t.user + t.system + t.children_user + t.children_system
        children = proc.children(recursive=True)
    except psutil.Error:
        return 0.0
    for child in children:
        with contextlib.suppress(psutil.Error):
            c = child.cpu_times()
            total += c.user + c.system
    return total


def _busy_cpu_seconds() -> float:
    """CPU seconds the whole machine has spent busy (not idle, not waiting on I/O)."""
    import psutil

    t = psutil.cpu_times()
    # Linux counts guest time inside user time already; steal (the hypervisor's) stays in.
    skip = t.idle + sum(getattr(t, f, 0.0) for f in ("iowait", "guest", "guest_nice"))
    return sum(t) - skip


def run_step(name: str, cmd: list[str], env: dict[str, str], logs: Path,
             position: str, server: Any = None) -> dict:
    """Run one step as a subprocess; sample its process tree's RSS (plus the tree of
    `server`, a psutil.Process: a database server the step talks to); return its figures."""
    import psutil

    logs.mkdir(parents=True, exist_ok=True)
    out_path, err_path = logs / f"{name}.stdout.log", logs / f"{name}.stderr.log"
    print(f"{position} {name:<10} {STEP_LABELS.get(name, '')} ...", flush=True)
    load = os.getloadavg()[0]
    busy_before = _busy_cpu_seconds()
    server_before = _tree_cpu(server) if server is not None else None
    start = time.perf_counter()
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        proc = subprocess.Popen(cmd, cwd=PROJECT_DIR, env=env, stdout=out, stderr=err,
                                stdin=subprocess.DEVNULL)
        ps = psutil.Process(proc.pid)
        peak, samples, beat = 0, 0, start + HEARTBEAT_SECONDS
        try:
            while True:
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    break
                rss = _tree_rss(ps) + (_tree_rss(server) if server is not None else 0)
                peak, samples = max(peak, rss), samples + 1
                now = time.perf_counter()
                if now >= beat:
                    beat = now + HEARTBEAT_SECONDS
                    print(f"    ... {now - start:6.0f}s  rss {rss / GIB:5.2f} GiB  "
                          f"{_last_line(out_path)}", flush=True)
                time.sleep(SAMPLE_SECONDS)
        except BaseException:
            proc.kill()
            proc.wait()
            raise
    wall = time.perf_counter() - start
    busy = _busy_cpu_seconds() - busy_before
    proc.returncode = code = os.waitstatus_to_exitcode(status)
    single_peak = usage.ru_maxrss * 1024  # Linux reports KiB
    step = {
        "name": name,
        "label": STEP_LABELS.get(name, name),
        "command": [Path(cmd[0]).name, *cmd[1:]],
        "status": "ok" if code == 0 else "failed",
        "returncode": code,
        "wall_s": round(wall, 3),
        "cpu_user_s": round(usage.ru_utime, 3),
        "cpu_system_s": round(usage.ru_stime, 3),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
        # The sampled tree peak can miss a spike shorter than the sampling interval; the
        # kernel's peak of the largest single process cannot, so report the larger.
        "peak_rss_bytes": max(peak, single_peak),
        "peak_rss_sampled_bytes": peak,
        "peak_rss_largest_process_bytes": single_peak,
        "rss_samples": samples,
        "load_avg_1m_before": round(load, 2),
        # What else the machine did meanwhile: CPU seconds of every other process. On a
        # shared machine a step's wall time stretches with this; its CPU time does not.
        "others_cpu_s": round(max(busy - usage.ru_utime - usage.ru_stime, 0.0), 1),
        "cpu_capacity_s": round(wall * (os.cpu_count() or 1), 1),
        # the database server's CPU meanwhile (its process tree, finished backends included)
        "server_cpu_s": (None if server_before is None
                         else round(_tree_cpu(server) - server_before, 1)),
        "stdout_log": str(out_path),
        "stderr_log": str(err_path),
    }
    if code == 0:
        print(f"    ok  {wall:8.1f}s wall  {step['cpu_s']:8.1f}s cpu  "
              f"peak {step['peak_rss_bytes'] / GIB:5.2f} GiB", flush=True)
    else:
        tail = _tail(err_path) or _tail(out_path)
        step["stderr_tail"] = tail
        print(f"    FAILED (exit {code}) after {wall:.1f}s; last lines of {err_path}:\n"
              + _indent(tail), flush=True)
    return step


def skipped(name: str, reason: str, position: str) -> dict:
    print(f"{position} {name:<10} skipped: {reason}", flush=True)
    return {"name": name, "label": STEP_LABELS.get(name, name), "status": "skipped",
            "reason": reason}


# --------------------------------------------------------------------------- facts


def _dir_bytes(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    if not path.exists():
        return 0
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _raw_facts(raw: Path) -> dict:
    tables = {}
    for folder in sorted(p for p in raw.iterdir() if p.is_dir()):
        files = [p for p in folder.rglob("*") if p.is_file()]
        tables[folder.name] = {"files": len(files), "bytes": sum(p.stat().st_size for p in files)}
    return {
        "dir": str(raw),
        "bytes": sum(t["bytes"] for t in tables.values()),
        "files": sum(t["files"] for t in tables.values()),
        "tables": tables,
    }


def _warm_page_cache(raw: Path) -> float:
    """Read every raw file once, so no step pays for a cold cache that another did not."""
    start = time.perf_counter()
    for path in sorted(p for p in raw.rglob("*") if p.is_file()):
        with open(path, "rb") as f:
            while f.read(8 << 20):
                pass
    return round(time.perf_counter() - start, 3)


def _machine() -> dict:
    import psutil

    cpu_model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    facts = {
        "cores_logical": os.cpu_count(),
        "cores_physical": psutil.cpu_count(logical=False),
        "cpu_model": cpu_model,
        "memory_bytes": psutil.virtual_memory().total,
        "platform": platform.platform(),
        "python": platform.python_version(),
    }
    with contextlib.suppress(OSError):
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        facts["cgroup_memory_max"] = limit
    return facts


def _versions() -> dict:
    out = {}
    for dist in ("duckdb", "dbt-core", "dbt-duckdb", "kequn"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out


def _git() -> dict:
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", "-C", str(PROJECT_DIR), *args], capture_output=True,
                                  text=True, timeout=30).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain"))}


def _truth_dir(raw: Path) -> Path:
    return raw.with_name(raw.name + ".truth")


def extract_scale(raw: Path) -> float | None:
    """The scale recorded in `<raw>.truth/meta.json`, or None when there is none."""
    meta = _truth_dir(raw) / "meta.json"
    try:
        doc = json.loads(meta.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    candidates = [doc, *(v for v in doc.values() if isinstance(v, dict))]
    for d in candidates:
        if isinstance(d.get("scale"), int | float):
            return float(d["scale"])
    return None


def dbt_summary(run_results: Path, top: int = 10) -> dict | None:
    """Per-node timings from dbt's run_results.json: the slowest models and totals by type."""
    try:
        doc = json.loads(run_results.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    by_type: dict[str, dict] = {}
    models = []
    for r in doc.get("results", []):
        kind = r["unique_id"].split(".", 1)[0]
        t = by_type.setdefault(kind, {"count": 0, "seconds": 0.0})
        t["count"] += 1
        t["seconds"] = round(t["seconds"] + (r.get("execution_time") or 0.0), 3)
        if kind == "model":
            models.append({
                "model": r["unique_id"].split(".")[-1],
                "unique_id": r["unique_id"],
                "seconds": round(r.get("execution_time") or 0.0, 3),
                "status": r.get("status"),
                "rows_affected": (r.get("adapter_response") or {}).get("rows_affected"),
            })
    models.sort(key=lambda m: -m["seconds"])
    return {
        "run_results": str(run_results),
        "elapsed_s": round(doc.get("elapsed_time") or 0.0, 3),
        "by_resource_type": by_type,
        "top_models": models[:top],
    }


def _state(work: Path) -> Path:
    """The state folder of the bench's warehouse, `<work>/kequn.duckdb`."""
    return state_dir(work / "kequn.duckdb")


def _build_dirs(work: Path) -> set[Path]:
    builds = _state(work) / "builds"
    return {d for d in builds.iterdir() if d.is_dir()} if builds.is_dir() else set()


def collect_build(work: Path, before: set[Path], step: str) -> tuple[dict | None, dict]:
    """After a `kequn build` step: its dbt timings and its own per-stage timings.

    `kequn build` writes each build into `<work>/kequn.state/builds/<run_id>/` (dbt's
    artefacts in its `target/`) and appends one line per build to the state folder's
    `gate_history.jsonl`; a build
    without that layout leaves run_results.json in $DBT_TARGET_PATH (`<work>/target`).
    The run_results.json is copied to `<work>/run_results.<step>.json` and summarised.
    """
    new = sorted(_build_dirs(work) - before)
    candidates = [d / "target" / "run_results.json" for d in reversed(new)]
    candidates.append(work / "target" / "run_results.json")
    dbt = None
    for path in candidates:
        if path.exists():
            kept = work / f"run_results.{step}.json"
            shutil.copyfile(path, kept)
            dbt = dbt_summary(kept)
            break
    stages: dict = {}
    run_ids = {d.name for d in new}
    with contextlib.suppress(OSError):
        for line in (_state(work) / "gate_history.jsonl").read_text(
                encoding="utf-8").splitlines():
            try:
                doc = json.loads(line)
            except ValueError:
                continue
            if doc.get("run_id") in run_ids:
                stages = {"run_id": doc["run_id"], "seconds": doc.get("seconds"),
                          "stages": doc.get("steps") or {}}
    return dbt, stages


def _landing_rows(landing: Path) -> dict:
    """Rows per table and rows of the newest batch, from the landing manifest."""
    try:
        manifest = json.loads((landing / "_manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    last = manifest.get("batches", 0)
    rows: dict[str, int] = {}
    new_rows = new_files = 0
    for rel, f in manifest.get("files", {}).items():
        table = rel.split("/", 1)[0]
        rows[table] = rows.get(table, 0) + int(f.get("rows", 0))
        if f.get("batch_id") == last:
            new_rows += int(f.get("rows", 0))
            new_files += 1
    return {"rows": rows, "last_batch": last, "last_batch_rows": new_rows,
            "last_batch_files": new_files}


def _ratio(num: dict, den: dict, key: str) -> float | None:
    if (num.get("status") != "ok" or den.get("status") != "ok" or not den.get(key)
            or num.get(key) is None):
        return None
    return round(num[key] / den[key], 4)


def gate_seconds(step: dict) -> float | None:
    """Seconds a `kequn build` step spent in its gates (its stages named `... gate`)."""
    stages = (step.get("build") or {}).get("stages") or {}
    gates = [v for k, v in stages.items() if "gate" in k and v is not None]
    return round(sum(gates), 3) if step.get("status") == "ok" and gates else None


def _targets(scale: float, steps: dict, ratios: dict) -> list[dict]:
    peaks = [steps[s]["peak_rss_bytes"] for s in PIPELINE_STEPS
             if steps.get(s, {}).get("status") == "ok"]
    out = [{"target": name, "scale": at, "limit": limit, "measured": ratios.get(key)}
           for at, name, key, limit in RATIO_TARGETS]
    # a peak over some of the steps says nothing of the rest
    out.append({"target": PEAK_TARGET, "scale": TARGET_SCALE, "limit": TARGET_PEAK_BYTES,
                "measured": max(peaks) if len(peaks) == len(PIPELINE_STEPS) else None})
    at, name, key, limit = DEMO_TARGET
    if scale == at:
        full = steps.get("full", {})
        out.append({"target": name, "scale": at, "limit": limit,
                    "measured": full.get(key) if full.get("status") == "ok" else None})
    gen = steps.get("generate", {})
    if gen.get("status") == "ok":
        at_scale = scale == TARGET_SCALE
        projected = gen["wall_s"] if at_scale else gen["wall_s"] * TARGET_SCALE / scale
        out.append({
            "target": "generate scale 10 in < 15 min", "scale": TARGET_SCALE,
            "limit": TARGET_GENERATE_SECONDS, "measured": round(projected, 1),
            "note": None if at_scale else f"linear projection from scale {fmt_scale(scale)}",
        })
    for t in out:
        t["met"] = None if t["measured"] is None else t["measured"] <= t["limit"]
        if t.get("note"):
            t["met"] = None  # a projection is a hint, not a verdict
        t["at_target_scale"] = scale == t["scale"]
    return out


# --------------------------------------------------------------------------- plot


def plot(result: dict, png: Path) -> None:
    """Wall/CPU time and peak memory of the three steps, and the slowest models."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [result["steps"].get(s, {"status": "missing"}) for s in PIPELINE_STEPS]
    names = list(PIPELINE_STEPS)
    fig = plt.figure(figsize=(11, 8.5), constrained_layout=True)
    grid = fig.add_gridspec(2, 2, height_ratios=[1, 1.15])
    ax_t, ax_m, ax_models = (fig.add_subplot(grid[0, 0]), fig.add_subplot(grid[0, 1]),
                             fig.add_subplot(grid[1, :]))

    def bar_labels(ax, bars, values, fmt):
        for bar, v, s in zip(bars, values, steps, strict=True):
            text = fmt(v) if s.get("status") == "ok" else s.get("status", "?")
            ax.annotate(text, (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                        ha="center", va="bottom", fontsize=8)

    xs = range(len(names))
    colors = ["#4c72b0" if s.get("status") == "ok" else "#c44e52" for s in steps]
    wall = [s.get("wall_s", 0.0) for s in steps]
    cpu = [s.get("cpu_s", 0.0) for s in steps]
    # Wall time, split into the build's own stages where it reports them (land, gates,
    # dbt build, publish); the rest is interpreter and dbt start-up, copying and the like.
    stage_colors = ["#4c72b0", "#dd8452", "#8172b3", "#937860", "#da8bc3", "#8c8c8c"]
    stage_names: list[str] = []
    labelled: set[str] = set()

    def label(name: str) -> str | None:
        if name in labelled:
            return None
        labelled.add(name)
        return name

    for x, s in zip(xs, steps, strict=True):
        stages = ((s.get("build") or {}).get("stages") or {}) if s.get("status") == "ok" else {}
        bottom = 0.0
        for stage, secs in stages.items():
            if stage not in stage_names:
                stage_names.append(stage)
            color = stage_colors[stage_names.index(stage) % len(stage_colors)]
            ax_t.bar(x - 0.2, secs, 0.4, bottom=bottom, color=color, label=label(stage))
            bottom += secs
        rest = max(s.get("wall_s", 0.0) - bottom, 0.0)
        if stages:
            ax_t.bar(x - 0.2, rest, 0.4, bottom=bottom, color="#cccccc",
                     label=label("start-up & other"))
        else:
            ax_t.bar(x - 0.2, rest, 0.4, color=colors[x])
    bars = ax_t.bar([x - 0.2 for x in xs], wall, 0.4, fill=False, edgecolor="none")
    ax_t.bar([x + 0.2 for x in xs], cpu, 0.4, color="#999999", label="CPU (user+sys)")
    bar_labels(ax_t, bars, wall, lambda v: f"{v:.1f}s")
    ax_t.set_xticks(list(xs), names)
    ax_t.set_ylabel("seconds")
    ax_t.set_title("time per step")
    ax_t.legend(fontsize=8)

    peak = [s.get("peak_rss_bytes", 0) / GIB for s in steps]
    bars = ax_m.bar(list(xs), peak, 0.6, color=colors)
    bar_labels(ax_m, bars, peak, lambda v: f"{v:.2f} GiB")
    ax_m.axhline(TARGET_PEAK_BYTES / GIB, color="#c44e52", ls="--", lw=1)
    ax_m.text(0.01, TARGET_PEAK_BYTES / GIB, "8 GiB target", ha="left", va="bottom",
              fontsize=8, color="#c44e52", transform=ax_m.get_yaxis_transform())
    ax_m.set_ylim(0, max([*peak, TARGET_PEAK_BYTES / GIB]) * 1.12)
    ax_m.set_xticks(list(xs), names)
    ax_m.set_ylabel("GiB")
    ax_m.set_title("peak RSS of the step's process tree")

    dbt = (result.get("dbt") or {}).get("full") or {}
    top = dbt.get("top_models") or []
    if top:
        shown = list(reversed(top))
        bars = ax_models.barh([m["model"] for m in shown], [m["seconds"] for m in shown],
                              color=["#55a868" if m["status"] == "success" else "#c44e52"
                                     for m in shown])
        for bar, m in zip(bars, shown, strict=True):
            rows = f", {m['rows_affected']:,} rows" if m.get("rows_affected") else ""
            status = "" if m["status"] == "success" else f" ({m['status']})"
            ax_models.annotate(f" {m['seconds']:.2f}s{rows}{status}",
                               (bar.get_width(), bar.get_y() + bar.get_height() / 2),
                               va="center", fontsize=7)
        ax_models.set_xlabel("seconds (dbt run_results.json execution_time)")
        ax_models.tick_params(axis="y", labelsize=8)
    else:
        ax_models.text(0.5, 0.5, "no dbt run_results from the full build", ha="center",
                       va="center", transform=ax_models.transAxes)
        ax_models.set_axis_off()
    ax_models.set_title("slowest models in the full build")

    m = result["machine"]
    fig.suptitle(
        f"kequn bench, scale {fmt_scale(result['scale'])} "
        f"({result['clients_nominal']:,} clients), {m['cores_logical']} cores, "
        f"{m['memory_bytes'] / GIB:.0f} GiB, DuckDB {result['versions']['duckdb']} "
        f"memory_limit {result['settings']['memory_limit']}", fontsize=10)
    save_figure(fig, png)


def save_figure(fig, png: Path) -> None:
    """Write a matplotlib figure as PNG (creating its folder) and free it."""
    import matplotlib.pyplot as plt

    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=110)
    plt.close(fig)


# --------------------------------------------------------------------------- the command


def _clean_work(work: Path) -> None:
    """Remove what an earlier run left in the work folder; the extract stays."""
    # landing, builds and gate_history.jsonl: where warehouses kept them before kequn.state/
    for name in ("kequn.duckdb", "kequn.duckdb.wal", "kequn.state", "landing", "tmp", "target",
                 "logs", "steps", "limit", "raw-nightly", "raw-nightly.truth", "builds",
                 "gate_history.jsonl", "run_results.full.json", "run_results.nightly.json"):
        path = work / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _file_states(root: Path) -> dict[str, tuple[int, int]]:
    return {p.relative_to(root).as_posix(): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in root.rglob("*") if p.is_file()}


def _summary_lines(result: dict) -> list[str]:
    lines = [f"{'step':<11} {'status':<8} {'wall s':>9} {'cpu s':>9} {'peak GiB':>9}"]
    for name, s in result["steps"].items():
        if s["status"] == "skipped":
            lines.append(f"{name:<11} {'skipped':<8}")
            continue
        lines.append(f"{name:<11} {s['status']:<8} {s['wall_s']:>9.1f} {s['cpu_s']:>9.1f} "
                     f"{s['peak_rss_bytes'] / GIB:>9.2f}")
    r = result["ratios"]

    def show(v, fmt):
        return "n/a" if v is None else fmt.format(v)

    lines.append(f"full / limit     wall {show(r['full_over_limit_wall'], '{:.2f}x')}  "
                 f"cpu {show(r['full_over_limit_cpu'], '{:.2f}x')}")
    lines.append(f"nightly / full   wall {show(r['nightly_over_full_wall'], '{:.1%}')}  "
                 f"cpu {show(r['nightly_over_full_cpu'], '{:.1%}')}")
    for t in result["targets"]:
        verdict = {True: "met", False: "MISSED", None: "not measured"}[t["met"]]
        where = ""
        if not t["at_target_scale"]:
            where = (f" (target is for scale {fmt_scale(t['scale'])}; "
                     f"{t.get('note') or 'measured at this scale'})")
        lines.append(f"target: {t['target']:<44} {verdict}{where}")
    return lines


def _print_stages(step: dict) -> None:
    stages = (step.get("build") or {}).get("stages") or {}
    if stages:
        print("        " + ", ".join(f"{k} {v:.1f}s" for k, v in stages.items()), flush=True)


def memory_limit_of(args: argparse.Namespace) -> str:
    return args.memory_limit or os.environ.get("KEQUN_MEMORY_LIMIT") or DEFAULT_MEMORY_LIMIT


def results_dir(args: argparse.Namespace) -> Path:
    return (args.out or PROJECT_DIR / "benchmarks" / "results").resolve()


class Engine:
    """How the bench builds on one engine: DuckDB (this class: `kequn build --db`), or
    another (kequn.bench_engines) that overrides these."""

    name = "duckdb"
    server: Any = None  # a psutil.Process whose tree's memory counts too (a DB server)

    def prepare(self, env: dict[str, str]) -> dict[str, str]:
        """The environment of the builds (a fresh database where the engine needs one)."""
        return env

    def build_cmd(self, py: str, raw: Path, db: Path, full: bool) -> list[str]:
        return [py, "-m", "kequn.cli", "build", "--raw-dir", str(raw), "--db", str(db),
                *(["--full-refresh"] if full else [])]

    def collect(self, work: Path, before: set[Path], step: str) -> tuple[dict | None, dict]:
        return collect_build(work, before, step)

    def size_bytes(self, db: Path) -> int:
        return _dir_bytes(db)

    def suffix(self) -> str:
        return ""


def run_bench(args: argparse.Namespace) -> int:
    """`kequn bench --scale S` (`--series` is kequn.bench_series)."""
    if args.scale <= 0:
        print("kequn bench: --scale must be positive", file=sys.stderr)
        return 2
    code, _ = bench_scale(args.scale, work=args.work, raw_dir=args.raw_dir,
                          out=results_dir(args), memory_limit=memory_limit_of(args))
    return code


def bench_scale(scale: float, *, work: Path | None, raw_dir: Path | None, out: Path,
                memory_limit: str, engine: Engine | None = None) -> tuple[int, dict | None]:
    """Measure one scale; returns the exit code and the result (None when nothing ran).
    `work` defaults to warehouse/bench/scale-<S>, `raw_dir` to <work>/raw."""
    engine = engine or Engine()
    tag = fmt_scale(scale)
    work = (work or PROJECT_DIR / "warehouse" / "bench" / f"scale-{tag}").resolve()
    raw: Path = (raw_dir or work / "raw").resolve()
    own_raw = raw_dir is None
    if raw == work:
        print("kequn bench: --raw-dir and --work must differ", file=sys.stderr)
        return 2, None
    # The extract: reuse one of this scale, else generate it (never over a user's folder).
    found = extract_scale(raw) if raw.exists() else None
    reused = raw.exists() and found is not None and abs(found - scale) < 1e-9
    if raw.exists() and not reused and not own_raw:
        what = "no .truth/meta.json" if found is None else f"scale {fmt_scale(found)}"
        print(f"kequn bench: {raw} exists but holds {what}, not scale {tag}; pass "
              "another --raw-dir or remove it", file=sys.stderr)
        return 2, None
    work.mkdir(parents=True, exist_ok=True)
    _clean_work(work)
    if not reused:
        shutil.rmtree(raw, ignore_errors=True)  # only ever <work>/raw, see above
        shutil.rmtree(_truth_dir(raw), ignore_errors=True)
    temp = work / "tmp"
    temp.mkdir()
    logs = work / "steps"
    env = {
        **os.environ,
        "DO_NOT_TRACK": "1",
        "PYTHONUNBUFFERED": "1",
        "KEQUN_MEMORY_LIMIT": memory_limit,
        "KEQUN_TEMP_DIR": str(temp),
        "DBT_TARGET_PATH": str(work / "target"),
        "DBT_LOG_PATH": str(work / "logs"),
    }
    py = sys.executable
    started = datetime.now(UTC)
    steps: dict[str, dict] = {}
    notes: list[str] = []

    total = 4 + (not reused)
    n = iter(range(1, total + 1))

    def pos() -> str:
        return f"[{next(n)}/{total}]"

    print(f"kequn bench: scale {tag} ({int(scale * CLIENTS_PER_SCALE):,} clients), "
          f"work {work}, DuckDB memory_limit {memory_limit}", flush=True)
    # The generation figures travel with the extract, so a run that reuses it reports them.
    gen_record = raw.with_name(raw.name + ".bench-generate.json")
    if reused:
        print(f"reusing the scale-{tag} extract at {raw}", flush=True)
        with contextlib.suppress(OSError, ValueError):
            steps["generate"] = {**json.loads(gen_record.read_text(encoding="utf-8")),
                                 "reused_measurement": True}
            print(f"      generate   measured when it was written: "
                  f"{steps['generate']['wall_s']:.1f}s wall", flush=True)
    else:
        gen_record.unlink(missing_ok=True)
        raw.parent.mkdir(parents=True, exist_ok=True)
        steps["generate"] = run_step(
            "generate", [py, "-m", "kequn.cli", "generate", "--scale", tag, "--out", str(raw)],
            env, logs, pos())
        if steps["generate"]["status"] == "ok":
            gen_record.write_text(json.dumps({**steps["generate"], "measured_at": datetime.now(
                UTC).isoformat(timespec="seconds")}, indent=1) + "\n", encoding="utf-8")
    gen_ok = reused or steps["generate"]["status"] == "ok"
    raw_facts = _raw_facts(raw) if gen_ok and raw.is_dir() else {"dir": str(raw)}
    if gen_ok and raw.is_dir():
        raw_facts["warm_read_s"] = _warm_page_cache(raw)

    limit_json = work / "limit" / "_result.json"
    sizes: dict[str, int] = {}
    dbt: dict[str, dict | None] = {}
    out.mkdir(parents=True, exist_ok=True)
    json_path = out / f"scale-{tag}{engine.suffix()}.json"
    png_path = json_path.with_suffix(".png")

    def assemble(state: str) -> dict:
        """Everything measured so far; written after every step, so a run cut short keeps
        what it measured (`state` is `running`, `interrupted` or `finished`)."""
        try:
            limit_tables = json.loads(limit_json.read_text(encoding="utf-8"))["tables"]
        except (OSError, ValueError, KeyError):
            limit_tables = {}
        if limit_tables:
            sizes["limit_parquet_bytes"] = sum(t["parquet_bytes"]
                                               for t in limit_tables.values())
        # Row counts: the limit step read every raw row; landing's manifest is the fallback.
        rows = ({t: v["rows"] for t, v in limit_tables.items()}
                or _landing_rows(_state(work) / "landing").get("rows", {}))
        for table, count in rows.items():
            raw_facts.setdefault("tables", {}).setdefault(table, {})["rows"] = count
        raw_facts["rows"] = sum(rows.values()) if rows else None
        nightly_landing = (_landing_rows(_state(work) / "landing")
                           if steps.get("nightly", {}).get("status") == "ok" else {})
        full, limit, nightly = (steps.get(k, {}) for k in ("full", "limit", "nightly"))
        ratios = {
            "full_over_limit_wall": _ratio(full, limit, "wall_s"),
            "full_over_limit_cpu": _ratio(full, limit, "cpu_s"),
            "nightly_over_full_wall": _ratio(nightly, full, "wall_s"),
            "nightly_over_full_cpu": _ratio(nightly, full, "cpu_s"),
            "gates_over_full_wall": _ratio({"status": full.get("status"),
                                            "wall_s": gate_seconds(full)}, full, "wall_s"),
        }
        failed = [s["name"] for s in steps.values() if s["status"] == "failed"]
        not_run = [s["name"] for s in steps.values() if s["status"] == "skipped"]
        return {
            "schema_version": 1,
            "state": state,
            "started_at": started.isoformat(timespec="seconds"),
            "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "ok": state == "finished" and not failed and not not_run,
            "failed_steps": failed,
            "skipped_steps": not_run,
            "scale": scale,
            "engine": engine.name,
            "clients_nominal": int(scale * CLIENTS_PER_SCALE),
            "machine": machine,
            "versions": versions,
            "git": git,
            "settings": {"memory_limit": memory_limit, "threads": 2, "temp_dir": str(temp),
                         "work_dir": str(work), "sample_interval_s": SAMPLE_SECONDS},
            "raw": {**raw_facts, "reused": reused},
            "nightly_delivery": {"rows": nightly_landing.get("last_batch_rows"),
                                 "files": nightly_landing.get("last_batch_files")},
            "sizes": sizes,
            "steps": steps,
            "ratios": ratios,
            "dbt": dbt,
            "notes": notes,
            "targets": _targets(scale, steps, ratios),
        }

    def save(state: str) -> dict:
        result = assemble(state)
        tmp = json_path.with_name(json_path.name + ".tmp")
        tmp.write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n",
                       encoding="utf-8")
        os.replace(tmp, json_path)
        return result

    machine, versions, git = _machine(), _versions(), _git()
    state = "finished"
    try:
        save("running")
        if gen_ok:
            steps["limit"] = run_step(
                "limit", [py, "-m", "kequn.bench", "limit", str(raw), str(work / "limit"),
                          "--memory-limit", memory_limit, "--temp-dir", str(temp),
                          "--result", str(limit_json)], env, logs, pos())
            save("running")
            db = work / "kequn.duckdb"
            env = engine.prepare(env)
            before_builds = _build_dirs(work)
            steps["full"] = run_step("full", engine.build_cmd(py, raw, db, True), env, logs,
                                     pos(), engine.server)
            # Kept even from a failed build: which models ran, and how long, is the clue.
            dbt["full"], steps["full"]["build"] = engine.collect(work, before_builds, "full")
            _print_stages(steps["full"])
            save("running")
        else:
            for name in ("limit", "full"):
                steps[name] = skipped(name, "no extract", pos())

        if steps["full"]["status"] == "ok":
            db = work / "kequn.duckdb"
            sizes[f"{engine.name}_after_full_bytes"] = engine.size_bytes(db)
            sizes["landing_after_full_bytes"] = _dir_bytes(_state(work) / "landing")
            # The nightly delivery lands on a snapshot of the extract, so the extract itself
            # stays as generated and can be reused.
            nightly_raw = work / "raw-nightly"
            shutil.copytree(raw, nightly_raw, copy_function=_link_or_copy)
            if _truth_dir(raw).is_dir():
                shutil.copytree(_truth_dir(raw), _truth_dir(nightly_raw))
            before = _file_states(nightly_raw)
            steps["append_day"] = run_step(
                "append_day", [py, "-m", "kequn.cli", "generate", "--scale", tag, "--out",
                               str(nightly_raw), "--append-day"], env, logs, pos())
            after = _file_states(nightly_raw)
            rewritten = sorted(k for k, v in before.items() if after.get(k) != v)
            if rewritten:
                notes.append(
                    f"--append-day rewrote {len(rewritten)} delivered file(s) in place "
                    f"({', '.join(rewritten[:5])}); they are hard links, so {raw} changed "
                    "too and the contract says delivered files are never rewritten")
            save("running")
            if steps["append_day"]["status"] == "ok":
                before_builds = _build_dirs(work)
                steps["nightly"] = run_step(
                    "nightly", engine.build_cmd(py, nightly_raw, db, False), env, logs, pos(),
                    engine.server)
                dbt["nightly"], steps["nightly"]["build"] = engine.collect(
                    work, before_builds, "nightly")
                _print_stages(steps["nightly"])
                if steps["nightly"]["status"] == "ok":
                    sizes[f"{engine.name}_after_nightly_bytes"] = engine.size_bytes(db)
            else:
                steps["nightly"] = skipped("nightly", "append_day failed", pos())
        else:
            steps["append_day"] = skipped("append_day", "full build did not succeed", pos())
            steps["nightly"] = skipped("nightly", "full build did not succeed", pos())
    except KeyboardInterrupt:
        state = "interrupted"
        print("\nkequn bench: interrupted; writing what was measured so far", file=sys.stderr)

    result = save(state)
    plot(result, png_path)
    print()
    print("\n".join(_summary_lines(result)))
    for note in notes:
        print(f"note: {note}")
    print(f"wrote {json_path} and {png_path}")
    if state == "interrupted":
        return 130, result
    if result["failed_steps"] or result["skipped_steps"]:
        for name in result["failed_steps"]:
            print(f"kequn bench: step {name} failed (exit {steps[name]['returncode']}); "
                  f"last lines of {steps[name]['stderr_log']}:\n"
                  + _indent(steps[name]["stderr_tail"], "  "), file=sys.stderr)
        if result["skipped_steps"]:
            print(f"kequn bench: not run: {', '.join(result['skipped_steps'])}",
                  file=sys.stderr)
        return 1, result
    return 0, result

if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "limit":
        sys.exit(_limit_main(sys.argv[2:]))
    if len(sys.argv) > 2 and sys.argv[1] == "table":
        print(markdown_table([json.loads(Path(f).read_text(encoding="utf-8"))
                              for f in sys.argv[2:]]))
        sys.exit(0)
    print("usage: python -m kequn.bench limit RAW OUT [...] | table RESULT.json...; "
          "or `kequn bench`", file=sys.stderr)
    sys.exit(2)
