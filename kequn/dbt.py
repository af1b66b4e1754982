"""Run dbt in-process (dbtRunner): one interpreter, no 2-3 s start-up per step."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kequn import PROJECT_DIR
from kequn.campaign import campaigns_dir
from kequn.console import use_colour


class DbtError(RuntimeError):
    """A dbt step failed; the message says which and how many nodes."""


@contextmanager
def overridden(overrides: dict[str, str]) -> Iterator[None]:
    """Set `overrides` in os.environ for the block, then restore what was there (profiles.yml
    reads env vars; every in-process dbt run of the project goes through this)."""
    saved = {k: os.environ.get(k) for k in overrides}
    os.environ.update(overrides)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextmanager
def dbt_env(db: Path, landing_dir: Path) -> Iterator[None]:
    """Point the committed profile at this build's database and landing folder."""
    with overridden({
        "KEQUN_DB": str(db),
        "KEQUN_LANDING_DIR": str(landing_dir),
        "KEQUN_TEMP_DIR": os.environ.get("KEQUN_TEMP_DIR", str(db.parent / "tmp")),
        "DO_NOT_TRACK": "1",
        # frozen campaign cohorts of the published warehouse (also from a build's copy)
        "KEQUN_CAMPAIGNS_DIR": str(campaigns_dir(db)),
    }):
        yield


def run_dbt(args: Sequence[str], *, target_path: Path | None = None,
            log_path: Path | None = None, callbacks: Sequence[Callable[[Any], None]] = (),
            echo: bool = True):
    """Invoke one dbt command in-process and return its dbtRunnerResult; raise on failure.

    `log_path`: where dbt writes its complete log (dbt.log, debug level). `callbacks` receive
    every dbt event (EventMsg), whatever the log levels. `echo=False` silences dbt's own
    lines on stdout (a callback then reports progress and problems). dbt colours its lines
    only when stdout is a terminal (and NO_COLOR is unset).
    """
    from dbt.cli.main import dbtRunner

    full = [*args, "--project-dir", str(PROJECT_DIR), "--profiles-dir", str(PROJECT_DIR)]
    if target_path is not None:
        full += ["--target-path", str(target_path)]
    if log_path is not None:
        full += ["--log-path", str(log_path), "--log-level-file", "debug"]
    if not echo:
        full += ["--log-level", "none"]
    full.append("--use-colors" if use_colour(sys.stdout) else "--no-use-colors")
    result = dbtRunner(callbacks=list(callbacks)).invoke(full)
    if not result.success:
        failed = []
        res = getattr(result, "result", None)
        for r in getattr(res, "results", None) or []:
            status = str(getattr(r, "status", ""))
            if status.lower() in {"error", "fail", "runtimeerror"}:
                # a run-operation's results carry a unique_id, not a node
                uid = r.node.unique_id if hasattr(r, "node") else getattr(r, "unique_id", "?")
                failed.append(f"{uid}: {r.message}")
        detail = "\n  ".join(failed[:20]) if failed else str(result.exception or "")
        if not detail:
            detail = "no node reported an error; see dbt.log in the build's logs folder"
        raise DbtError(f"dbt {args[0]} failed:\n  {detail}")
    return result
