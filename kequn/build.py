"""`kequn build`: land → dbt typing → raw gate → dbt build → marts gate → publish (WAP).

Every step writes into the warehouse's own state folder (`<db dir>/<db stem>.state/builds/
<run_id>/`); the warehouse at `--db` is replaced (one `os.replace`) only when every gate
passed. On any failure the published warehouse is untouched and the failed build's
database, dbt artefacts, GX results and report stay in the build folder, printed at the
end. See kequn/publish.py for the layout.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from contextlib import suppress
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb

from kequn import gates, publish, report
from kequn.console import QUIET, VERBOSE, Console
from kequn.dbt import DbtError, dbt_env, run_dbt
from kequn.landing import (
    ATTEMPTS,
    LandingError,
    RawDirError,
    check_extract,
    land,
    read_error,
    record_rows,
    remove_transcodes,
)
from kequn.state import state_dir

EXIT_CONTRACT = 2     # the extract breaks the contract (landing or raw gate)
EXIT_USAGE = 2        # an argument is wrong (a --raw-dir that does not exist); nothing written
EXIT_FAILED = 1       # dbt, the marts gate or publishing failed


class BuildFailed(Exception):
    def __init__(self, step: str, message: str, code: int = EXIT_FAILED):
        super().__init__(message)
        self.step, self.code = step, code


def dbt_results(target: Path) -> dict[str, Any]:
    path = target / "run_results.json"
    if not path.exists():
        return {}
    doc = json.loads(path.read_text(encoding="utf-8"))
    rows = []
    for r in doc.get("results", []):
        uid = r.get("unique_id", "")
        rows.append({
            "unique_id": uid, "kind": uid.split(".", 1)[0], "status": r.get("status"),
            "seconds": round(float(r.get("execution_time") or 0), 3),
            "failures": r.get("failures"), "message": (r.get("message") or "")[:500],
        })
    counts: dict[str, dict[str, int]] = {}
    for row in rows:
        counts.setdefault(row["kind"], {}).setdefault(str(row["status"]), 0)
        counts[row["kind"]][str(row["status"])] += 1
    return {"elapsed": doc.get("elapsed_time"), "results": rows, "counts": counts}


def _reject_counts(db: Path) -> list[dict]:
    import duckdb

    out: list[dict] = []
    try:
        con = duckdb.connect(str(db), read_only=True)
    except duckdb.Error:
        return out
    try:
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_name like '%\\_rejected' escape '\\' order by 2").fetchall()
        for schema, table in tables:
            cols = {r[0] for r in con.execute(
                "select column_name from information_schema.columns "
                "where table_schema = ? and table_name = ?", [schema, table]).fetchall()}
            reason = next((c for c in ("reject_reason", "_reject_reason") if c in cols), None)
            column = next((c for c in ("reject_column", "_reject_column") if c in cols), None)
            if reason is None:
                n = con.execute(f'select count(*) from "{schema}"."{table}"').fetchone()[0]
                out.append({"model": table, "reason": "", "column": "", "rows": n})
                continue
            col_expr = f'"{column}"' if column else "''"
            for r, c, n in con.execute(
                    f'select "{reason}", {col_expr}, count(*) from "{schema}"."{table}" '
                    "group by 1, 2 order by 3 desc").fetchall():
                out.append({"model": table, "reason": r, "column": c, "rows": n})
    except duckdb.Error:
        pass
    finally:
        con.close()
    return out


def _release_dbt_database() -> None:
    """dbt-duckdb keeps its DuckDB instance open in-process after a run; close it, so the
    gates can attach the file read-only and publishing can checkpoint it."""
    import gc

    try:
        from dbt.adapters.duckdb.connections import DuckDBConnectionManager as manager
    except ImportError:
        return
    with manager._LOCK:
        env, manager._ENV = manager._ENV, None
    if env is not None:
        with suppress(Exception):   # best effort; gc below drops the handle anyway
            env.close()
    gc.collect()


def _lock(db: Path):
    """One build at a time per warehouse (released by the OS if the process dies)."""
    import fcntl

    state = state_dir(db)
    state.mkdir(parents=True, exist_ok=True)
    fh = open(state / "build.lock", "a+")  # noqa: SIM115 - held for the build
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        fh.close()
        return None
    return fh


def refuse_extract(raw_dir: Path) -> int | None:
    """The exit code of a build refused before it writes anything (a --raw-dir that does not
    exist or lacks a table folder), the reason on stderr; None when the build may start."""
    try:
        check_extract(raw_dir)
    except RawDirError as exc:
        print(f"kequn build: {exc}. No build started; nothing written.", file=sys.stderr)
        return EXIT_USAGE
    except LandingError as exc:
        print(f"kequn build: the extract breaks the contract: {exc}. No build started; "
              "nothing written.", file=sys.stderr)
        return EXIT_CONTRACT
    return None


def run_build(args: argparse.Namespace) -> int:
    db: Path = args.db.resolve()
    # Checked before anything is written: a command that never starts a build leaves nothing.
    refused = refuse_extract(args.raw_dir)
    if refused is not None:
        return refused
    db.parent.mkdir(parents=True, exist_ok=True)
    lock = _lock(db)
    if lock is None:
        print(f"kequn build: another build of {db} is running; the published warehouse is "
              "unchanged. Try again when it has finished.", file=sys.stderr)
        return EXIT_FAILED
    try:
        return _run_build(args, db)
    finally:
        lock.close()


def _run_build(args: argparse.Namespace, db: Path) -> int:
    out = Console.for_args(args)
    run_id = publish.new_run_id()
    p = publish.paths_for(db, run_id)
    full_refresh = bool(args.full_refresh)
    # A warehouse without its working database or landing manifest (built before they
    # existed, or they were removed) cannot be updated in place: rebuild it all. A first
    # build is a full one anyway.
    why_not_in_place = None if full_refresh else publish.needs_full_refresh(p)
    if why_not_in_place is not None:
        if db.exists():
            out.line(f"kequn build: {why_not_in_place}; rebuilding from every file "
                     "(--full-refresh)")
        full_refresh = True
    overrides = {"max_reject_rate": getattr(args, "max_reject_rate", None)}
    run: dict[str, Any] = {
        "run_id": run_id, "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "raw_dir": str(Path(args.raw_dir).resolve()), "db": str(db),
        "build_dir": str(p.build_dir), "as_of": args.as_of.isoformat() if args.as_of else None,
        "full_refresh": full_refresh, "steps": [], "gates": {}, "status": "running",
    }
    start = time.perf_counter()

    def step(name: str, seconds: float, status: str, detail: str = "") -> None:
        run["steps"].append({"name": name, "seconds": round(seconds, 2), "status": status,
                             "detail": detail})
        # the stage line names the first thing that went wrong; the rest follows in full
        first = next((x.strip() for x in detail.splitlines() if x.strip()
                      and not x.endswith(":")), "")
        out.stage(name, status, first, seconds)

    exit_code = 0
    transcodes = p.build_dir / "transcoded"   # GB18030 CSVs as UTF-8: removed in finally
    # a build killed earlier could not remove its transcodes: this warehouse's lock is
    # held, so no other build of it runs, and every transcode folder left is stale
    for stale in (p.state / "builds").glob("*/transcoded"):
        remove_transcodes(stale)
    dbt_started = False
    try:
        t = time.perf_counter()
        out.line(f"kequn build {run_id}: building in {p.build_dir}")
        publish.prepare(p, full_refresh=full_refresh)
        step("prepare", time.perf_counter() - t, "ok",
             "fresh database" if full_refresh else f"working database {p.build_db} "
             f"updated in place from committed landing batch {publish.committed_batch(p)}")

        t = time.perf_counter()
        write_status_step(p, "land")
        try:
            landing = land(args.raw_dir, p.build_landing, attempts=p.state / ATTEMPTS,
                           transcode_dir=transcodes, progress=out.level >= VERBOSE)
        except LandingError as exc:
            step("land", time.perf_counter() - t, "failed", str(exc))
            raise BuildFailed("land", f"the extract breaks the contract: {exc}",
                              EXIT_CONTRACT) from exc
        out.line("\n".join(landing.lines()), verbose_only=True)
        run["landing"] = _landing_doc(landing)
        run["not_read"] = [{"file": f, "reason": r} for f, r in landing.not_read()]
        run["encodings"] = [{"file": f, "encoding": e} for tl in landing.tables.values()
                            for f, e in sorted(tl.encodings.items())]
        step("land", time.perf_counter() - t, "ok", _landing_line(landing))
        extra = sorted(f"{n}.{c}" for n, tl in landing.tables.items()
                       for c in {c for cs in tl.extra_columns.values() for c in cs})
        if extra:
            out.line(f"{'':21}extra columns ignored: {', '.join(extra)}")
        for f, r in landing.not_read():
            out.line(f"{'':21}not read: {f} ({r})")
        for item in run["encodings"]:
            out.line(f"{'':21}read as {item['encoding']}: {item['file']}")

        thresholds = gates.load_thresholds(overrides)
        run["thresholds"] = thresholds
        # A nightly build checks only the batch it landed (earlier ones passed when published)
        incremental = not full_refresh and any(t.files_total > t.files_new
                                               for t in landing.tables.values())
        dbt_args = dbt_build_args(
            as_of=args.as_of, full_refresh=full_refresh,
            nightly_batch=landing.batch_id if incremental else None,
            # incremental models are keyed to the committed landing state (publish.py)
            committed_batch=None if full_refresh else publish.committed_batch(p),
            build_batch=None if full_refresh else landing.batch_id)
        dbt_started = True
        # dbt in two phases around the raw gate: the typing pass (seeds and base models) first,
        # so the gate judges its counts; everything else only once the extract has passed
        _dbt_phase(p, run, out, step, "dbt typing", [*dbt_args, "--select", gates.BEFORE_RAW_GATE])

        t = time.perf_counter()
        write_status_step(p, "raw gate")
        raw = gates.run_raw_gate(
            p.build_db, p.build_dir, thresholds,
            new_batch=landing.batch_id if incremental else None,
            rows_before={n: t.rows_total - t.rows_new for n, t in landing.tables.items()})
        run["gates"]["raw"] = _gate_doc(raw)
        step("raw gate", time.perf_counter() - t, "ok" if raw.success else "failed",
             f"{gate_line(raw)} on the typing pass's counts of "
             + (f"landing batch {landing.batch_id}" if incremental else "every raw row"))
        _print_findings(out, raw)
        if not raw.success:
            raise BuildFailed("raw gate", "the extract breaks the raw contract (only the "
                              "typing pass ran; no staging model or mart was built):\n"
                              + "\n".join(f"  - {f.line()}" for f in raw.findings[:20]),
                              EXIT_CONTRACT)

        _dbt_phase(p, run, out, step, "dbt build", [*dbt_args, "--exclude", gates.BEFORE_RAW_GATE])

        t = time.perf_counter()
        write_status_step(p, "marts gate")
        # rows per file of the new batch, as the base models read them, into the manifest
        # the publish step commits
        try:
            landed_rows = record_rows(landing, p.build_db)
        except LandingError as exc:
            step("marts gate", time.perf_counter() - t, "failed", str(exc))
            raise BuildFailed("marts gate", str(exc)) from exc
        run["landing"] = _landing_doc(landing)
        marts = gates.run_marts_gate(p.build_db, p.build_dir, thresholds, landed_rows,
                                     since_batch=landing.batch_id if incremental else None,
                                     manifest=p.target / "manifest.json")
        run["gates"]["marts"] = _gate_doc(marts)
        run["reconciliation"] = gates.read_reconciliation(p.build_db)
        run["rejects"] = _reject_counts(p.build_db)
        run["conflicts"] = report.conflicting_rows(p.build_db)
        step("marts gate", time.perf_counter() - t, "ok" if marts.success else "failed",
             gate_line(marts))
        _print_findings(out, marts)
        if not marts.success:
            raise BuildFailed("marts gate", "the built marts break the output contract:\n"
                              + "\n".join(f"  - {f.line()}" for f in marts.findings[:20]))

        t = time.perf_counter()
        write_status_step(p, "publish")
        try:
            written = publish.publish(p, full_refresh=full_refresh)
        except (publish.PublishError, OSError, duckdb.Error) as exc:
            step("publish", time.perf_counter() - t, "failed", str(exc))
            raise BuildFailed("publish", f"publishing failed: {exc}") from exc
        step("publish", time.perf_counter() - t, "ok",
             f"{', '.join(publish.PUBLISHED_SCHEMAS)}: {written.line()} "
             f"({db.stat().st_size / 2**20:,.1f} MiB), os.replace -> {db}")
        run["published"] = {"rewritten": written.rewritten,
                            "by_partition": written.by_partition,
                            "from_month": written.from_month}
        run["status"] = "published"
    except BuildFailed as exc:
        run["status"] = "failed"
        run["failed_step"] = exc.step
        run["error"] = str(exc)
        exit_code = exc.code
    except Exception as exc:  # noqa: BLE001 - a report must be written whatever happened
        run["status"] = "failed"
        run["failed_step"] = run["steps"][-1]["name"] if run["steps"] else "prepare"
        run["error"] = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=8)}"
        exit_code = EXIT_FAILED
    finally:
        # the one copy of delivered values a build makes (PII): gone whatever happened
        remove_transcodes(transcodes)
    if run["status"] == "failed" and dbt_started:
        # the working database moves on with the next build: keep what this one built
        try:
            _release_dbt_database()
            kept = publish.keep_for_inspection(p)
            run["inspect_db"] = str(kept) if kept else None
        except Exception as exc:  # noqa: BLE001 - inspection is a convenience
            run["inspect_db_error"] = f"{type(exc).__name__}: {exc}"
    if run["gates"]:
        t = time.perf_counter()
        try:
            docs = gates.build_data_docs(p.build_dir)
            run["data_docs"] = str(docs) if docs else None
            step("data docs", time.perf_counter() - t, "ok", "GX Data Docs (offline)")
        except Exception as exc:  # noqa: BLE001 - docs are a convenience, never the verdict
            step("data docs", time.perf_counter() - t, "failed", str(exc)[:300])
    run["seconds"] = round(time.perf_counter() - start, 2)
    run["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    return _finish(p, run, exit_code, args)


def dbt_build_args(*, as_of: date | None, full_refresh: bool, nightly_batch: int | None,
                   committed_batch: int | None = None,
                   build_batch: int | None = None) -> list[str]:
    """The arguments of the build's `dbt build`.

    A nightly build (`nightly_batch`: the landing batch it landed) tests the day, not the
    code: unit tests are left to CI and full builds, and data tests configured with
    `where: __rebuilt_partitions__` check only the partitions holding rows of that batch
    (var data_tests_since_batch; macros/tests/rebuilt_partitions.sql). A full build runs
    every unit test and checks every row. An update of the working database passes the
    committed landing batch and this build's (`committed_batch`, `build_batch`): every
    incremental model is keyed to them (publish.py).
    """
    dbt_vars: dict[str, Any] = {}
    if as_of:
        dbt_vars["as_of_date"] = as_of.isoformat()
    if committed_batch is not None:
        dbt_vars["kequn_committed_batch"] = int(committed_batch)
    if build_batch is not None:
        dbt_vars["kequn_build_batch"] = int(build_batch)
    if nightly_batch is not None:
        dbt_vars["data_tests_since_batch"] = int(nightly_batch)
    args = ["build"]
    if dbt_vars:
        args += ["--vars", json.dumps(dbt_vars)]
    if full_refresh:
        args.append("--full-refresh")
    if nightly_batch is not None:
        args += ["--exclude-resource-type", "unit_test"]
    return args


def _dbt_phase(p: publish.BuildPaths, run: dict[str, Any], out: Console, step: Any,
               name: str, dbt_args: list[str]) -> None:
    """One dbt invocation of the build; its results join the earlier phases' in
    target/run_results.json (one document, as a single `dbt build` would write)."""
    t = time.perf_counter()
    write_status_step(p, name)
    earlier = _read_run_results(p.target)
    progress = out.dbt_progress()
    failed: DbtError | None = None
    try:
        with dbt_env(p.build_db, p.build_landing):
            run_dbt(dbt_args, target_path=p.target, log_path=p.build_dir / "logs",
                    callbacks=[progress] if progress else [], echo=out.level >= VERBOSE)
    except DbtError as exc:
        failed = exc
    if progress:
        progress.close()
    _release_dbt_database()
    _join_run_results(p.target, earlier)
    run["dbt"] = dbt_results(p.target)
    if failed is not None:
        # a delivered file the base models could not read: a contract breach, named
        bad_file = read_error(str(failed), p.build_landing)
        step(name, time.perf_counter() - t, "failed", bad_file or str(failed)[:2000])
        if bad_file:
            raise BuildFailed(name, f"the extract breaks the contract: {bad_file}",
                              EXIT_CONTRACT) from failed
        raise BuildFailed(name, str(failed)) from failed
    step(name, time.perf_counter() - t, "ok", dbt_line(run["dbt"]))


def _read_run_results(target: Path) -> dict[str, Any] | None:
    path = target / "run_results.json"
    with suppress(OSError, ValueError):
        return json.loads(path.read_text(encoding="utf-8"))
    return None


def _join_run_results(target: Path, earlier: dict[str, Any] | None) -> None:
    path = target / "run_results.json"
    now = _read_run_results(target)
    if earlier is None or now is None or now == earlier:   # this phase wrote none
        return
    now["results"] = [*earlier.get("results", []), *now.get("results", [])]
    now["elapsed_time"] = (earlier.get("elapsed_time") or 0) + (now.get("elapsed_time") or 0)
    path.write_text(json.dumps(now), encoding="utf-8")


def write_status_step(p: publish.BuildPaths, step_name: str) -> None:
    publish.write_status(p, "running", step=step_name)
    publish.crash_point(step_name)


def _gate_doc(g: gates.GateResult) -> dict[str, Any]:
    return {
        "success": g.success, "seconds": round(g.seconds, 2), "evaluated": g.evaluated,
        "failed": len(g.findings), "error": g.error,
        "data_docs": str(g.data_docs) if g.data_docs else None,
        "findings": [{"asset": f.asset, "column": f.column, "expectation": f.expectation,
                      "description": f.description, "observed": f.observed,
                      "sample": f.sample[:10], "line": f.line()} for f in g.findings],
        "results": g.results,
    }


def _landing_line(landing: Any) -> str:
    tables = landing.tables.values()
    files = sum(t.files_new for t in tables)
    if not files:
        return f"no new files in {landing.raw_dir}"
    return (f"batch {landing.batch_id}: {files:,} new files in "
            f"{sum(1 for t in tables if t.files_new)} tables (read in place, no copy)")


def _landing_doc(landing: Any) -> dict[str, Any]:
    """Files and rows per table (rows known once the base models have read the batch)."""
    return {name: {"files": tl.files_total, "new_files": tl.files_new,
                   "rows": tl.rows_total, "new_rows": tl.rows_new,
                   "extra_columns": sorted({c for cs in tl.extra_columns.values() for c in cs})}
            for name, tl in landing.tables.items()}


def gate_line(g: gates.GateResult) -> str:
    return f"{g.evaluated - len(g.findings)}/{g.evaluated} expectations met"


def _print_findings(out: Console, g: gates.GateResult) -> None:
    """A failed gate's verdict and findings, in full (at most 30, the rest in the report),
    on stderr; a passed gate's stage line says all there is."""
    for line in g.lines() if not g.success else g.lines()[1:]:
        out.problem(line)


_DBT_KINDS = {"model": "models", "seed": "seeds", "test": "tests", "unit_test": "unit tests",
              "snapshot": "snapshots"}


def dbt_line(d: dict[str, Any]) -> str:
    """`55 models, 15 seeds, 358 tests, 28 unit tests passed (2 warnings)`."""
    counts = d.get("counts", {})
    if not counts:
        return "no run_results.json"
    order = [*_DBT_KINDS, *sorted(set(counts) - set(_DBT_KINDS))]
    done = ", ".join(f"{sum(counts[k].values())} {_DBT_KINDS.get(k, k)}"
                     for k in order if k in counts)
    warned = sum(c.get("warn", 0) for c in counts.values())
    return f"{done} passed" + (f" ({warned} warnings)" if warned else "")


def _finish(p: publish.BuildPaths, run: dict[str, Any], exit_code: int,
            args: argparse.Namespace) -> int:
    run["exit_code"] = exit_code
    history = p.history
    try:
        report.append_history(history, run)
        report.write_report(p.report, run, report.read_history(history))
        run["report"] = str(p.report)
    except Exception as exc:  # noqa: BLE001 - the build outcome matters more than its report
        print(f"kequn build: could not write the report: {exc}", file=sys.stderr)
    if p.build_dir.exists():
        publish.write_status(p, run["status"], exit_code=exit_code,
                             failed_step=run.get("failed_step"), database=str(p.build_db),
                             inspect_db=run.get("inspect_db"))
    out = Console.for_args(args)
    if run["status"] == "published":
        removed = publish.cleanup(p.state, keep_published=getattr(args, "keep_builds", 3))
        if out.level > QUIET:
            out.result(f"published {p.published_db} in {run['seconds']:.1f}s")
            out.result(f"report: {p.report}")
        else:
            out.result(f"kequn build: published {p.published_db} in {run['seconds']:.1f}s; "
                       f"report {p.report}")
        if removed:
            out.line(f"removed {len(removed)} old build folder(s)", verbose_only=True)
        return 0
    out.problem(f"kequn build FAILED at {run.get('failed_step')}: {run.get('error')}")
    state = ("unchanged" if p.published_db.exists() else "not created (no previous build)")
    out.problem(f"published warehouse {p.published_db}: {state}")
    out.problem(f"failed build kept for inspection: {p.build_dir}")
    if run.get("inspect_db"):
        out.problem(f"what it built (marts, rules): {run['inspect_db']}; everything: "
                    f"{p.build_db} (until the next build)")
    if (p.build_dir / "logs" / "dbt.log").exists():
        out.problem(f"dbt's complete log: {p.build_dir / 'logs' / 'dbt.log'}")
    out.problem(f"report: {p.report}")
    publish.cleanup(p.state, keep_published=getattr(args, "keep_builds", 3))
    return exit_code or EXIT_FAILED

