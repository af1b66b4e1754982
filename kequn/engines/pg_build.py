"""`kequn build --target postgres`: load → dbt typing → raw gate → dbt build → marts gate → publish.

The same stages as the DuckDB build (kequn/build.py) on a Postgres database reached by the
KEQUN_PG_* variables (profiles.yml): kequn.engines.pg_load COPYs the new delivered files
into `raw.*` (the one engine that needs a load step), dbt writes the `*__build` schemas,
the GX gates of kequn.engines.pg_gates judge them, and kequn.engines.pg_publish swaps them
in in one transaction. A failed stage leaves the published schemas as they were and the
build's schemas for inspection. Each build's folder (dbt's log, GX results and Data Docs,
run.json) is `warehouse/pg-builds/<host>_<port>_<database>/builds/<run_id>/`
(kequn.engines.pg_publish.state_dir).

Every Postgres build rebuilds every model from `raw` (its schemas start empty); `raw` grows
only by loads, so a nightly build loads just the new files (DECISIONS.md).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kequn import gates, publish
from kequn.build import (
    EXIT_CONTRACT,
    EXIT_FAILED,
    EXIT_USAGE,
    dbt_build_args,
    dbt_line,
    dbt_results,
    gate_line,
    refuse_extract,
)
from kequn.console import Console
from kequn.engines import pg_gates, pg_load
from kequn.engines.pg_publish import (
    PUBLISHED_SCHEMAS,
    Build,
    PublishError,
    run_dbt,
    state_dir,
    where,
    write_audit_publish_steps,
)
from kequn.engines.postgres import connect


def run_pg_build(args: argparse.Namespace) -> int:
    out = Console.for_args(args)
    refused = refuse_extract(args.raw_dir)
    if refused is not None:
        return refused
    try:
        connect().close()
    except Exception as exc:  # noqa: BLE001 - psycopg2's OperationalError, said plainly
        print(f"kequn build --target postgres: cannot reach Postgres at {where()} "
              f"(KEQUN_PG_HOST, KEQUN_PG_PORT, KEQUN_PG_DATABASE, KEQUN_PG_USER): "
              f"{str(exc).strip()}. For the private cluster: `.venv/bin/python -m "
              "kequn.engines.postgres start` and `eval \"$(.venv/bin/python -m "
              "kequn.engines.postgres env)\"`. No build started; nothing written.",
              file=sys.stderr)
        return EXIT_USAGE

    run_id = publish.new_run_id()
    build_dir = state_dir() / "builds" / run_id
    build_dir.mkdir(parents=True)
    build = Build(run_id)
    run: dict[str, Any] = {"run_id": run_id, "target": "postgres", "database": where(),
                           "raw_dir": str(Path(args.raw_dir).resolve()),
                           "build_dir": str(build_dir), "steps": [], "gates": {},
                           "started_at": datetime.now(UTC).isoformat(timespec="seconds")}
    thresholds = gates.load_thresholds({"max_reject_rate": args.max_reject_rate})
    start = time.perf_counter()
    out.line(f"kequn build {run_id}: building on Postgres {where()} into the "
             f"{build.suffix} schemas; log and GX results in {build_dir}")

    ended = [start]  # when the last stage ended: publishing starts then

    def stage(name: str, work: Callable[[], str]) -> Callable[[Build], None]:
        def step(_: Build) -> None:
            t = time.perf_counter()
            try:
                detail = work()
            except Exception as exc:
                seconds = time.perf_counter() - t
                run["steps"].append({"name": name, "seconds": round(seconds, 2),
                                     "status": "failed", "detail": str(exc)[:4000]})
                out.stage(name, "failed", str(exc).strip().splitlines()[0][:160], seconds)
                raise
            ended[0] = time.perf_counter()
            seconds = ended[0] - t
            run["steps"].append({"name": name, "seconds": round(seconds, 2), "status": "ok",
                                 "detail": detail})
            out.stage(name, "ok", detail, seconds)
        step.__name__ = name.replace(" ", "_")
        return step

    dbt_args = dbt_build_args(as_of=args.as_of, full_refresh=False, nightly_batch=None)

    def dbt_phase(selection: list[str]) -> Callable[[], str]:
        def work() -> str:
            progress = out.dbt_progress()
            try:
                run_dbt(build, [*dbt_args, *selection], callbacks=[progress] if progress else (),
                        echo=out.level > 1)
            finally:
                if progress:
                    progress.close()
            return dbt_line(dbt_results(state_dir() / "target"))
        return work

    def gate(layer: str, judge: Callable[[], gates.GateResult]) -> Callable[[], str]:
        def work() -> str:
            result = judge()
            run["gates"][layer] = {"success": result.success, "findings":
                                   [f.line() for f in result.findings[:50]]}
            if not result.success:
                raise gates_refused(result)
            return gate_line(result)
        return work

    schemas = {s: build.schema(s) for s in PUBLISHED_SCHEMAS}
    steps = [
        stage("dbt typing", dbt_phase(["--select", gates.BEFORE_RAW_GATE])),
        stage("raw gate", gate("raw", lambda: pg_gates.raw_gate(
            schemas["staging"], build_dir / "gx", thresholds))),
        stage("dbt build", dbt_phase(["--exclude", gates.BEFORE_RAW_GATE])),
        stage("marts gate", gate("marts", lambda: pg_gates.marts_gate(
            schemas, build_dir / "gx", thresholds, state_dir() / "target" / "manifest.json"))),
    ]
    exit_code = 0
    try:
        t = time.perf_counter()
        try:
            loaded = pg_load.load(args.raw_dir)
        except pg_load.LoadError as exc:
            out.stage("load", "failed", str(exc), time.perf_counter() - t)
            raise _Failed("load", str(exc), EXIT_CONTRACT) from exc
        files = sum(len(v) for v in loaded.files_loaded.values())
        rows = sum(loaded.rows_loaded.values())
        detail = (f"{files} new files, {rows:,} rows into raw.* (load batch {loaded.batch_id})"
                  if files else "no new files")
        run["steps"].append({"name": "load", "seconds": round(time.perf_counter() - t, 2),
                             "status": "ok", "detail": detail})
        out.stage("load", "ok", detail, time.perf_counter() - t)
        for f, reason in loaded.not_read:
            out.line(f"{'':21}not read: {f} ({reason})")
        run["not_read"] = [{"file": f, "reason": r} for f, r in loaded.not_read]
        try:
            published = write_audit_publish_steps(build, steps)
        except PublishError as exc:
            raise _Failed(run["steps"][-1]["name"] if run["steps"] else "build", str(exc),
                          EXIT_CONTRACT if run["steps"][-1]["name"] == "raw gate"
                          else EXIT_FAILED) from exc
        seconds = time.perf_counter() - ended[0]
        run["steps"].append({"name": "publish", "seconds": round(seconds, 2), "status": "ok",
                             "detail": ", ".join(published)})
        out.stage("publish", "ok", f"schemas {', '.join(published)} swapped in "
                  "(one transaction); bi_reader reads marts", seconds)
        run["status"] = "published"
    except _Failed as exc:
        run["status"], run["failed_step"], run["error"] = "failed", exc.step, str(exc)
        exit_code = exc.code
    try:
        docs = gates.build_data_docs(build_dir / "gx")
        run["data_docs"] = str(docs) if docs else None
    except Exception as exc:  # noqa: BLE001 - docs are a convenience, never the verdict
        run["data_docs_error"] = str(exc)[:300]
    run["seconds"] = round(time.perf_counter() - start, 2)
    (build_dir / "run.json").write_text(json.dumps(run, indent=2, ensure_ascii=False),
                                        encoding="utf-8")
    if exit_code:
        out.problem(f"kequn build {run_id} failed at {run['failed_step']}: {run['error']}\n"
                    f"The published schemas on {where()} are unchanged; the build's "
                    f"*{build.suffix} schemas stay for inspection until the next build. "
                    f"Log and GX results: {build_dir}")
    else:
        out.result(f"kequn build {run_id}: published on Postgres {where()} in "
                   f"{run['seconds']:.1f} s (marts.client_segments and the other marts)")
    return exit_code


class _Failed(Exception):
    def __init__(self, step: str, message: str, code: int):
        super().__init__(message)
        self.step, self.code = step, code


def gates_refused(result: gates.GateResult) -> Exception:
    lines = "\n".join(f"  - {f.line()}" for f in result.findings[:20])
    return RuntimeError(f"{len(result.findings)} of {result.evaluated} expectations failed"
                        + (f" ({result.error})" if result.error else "") + f":\n{lines}")

