"""Shared pytest fixtures: real builds into temporary DuckDB files."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kequn import PROJECT_DIR

FIXTURES = PROJECT_DIR / "tests" / "fixtures"


def kequn(*args: str, env: dict[str, str] | None = None, check: bool = True,
          timeout: int = 1800) -> subprocess.CompletedProcess:
    """Run the real `kequn` CLI in a subprocess, as a user would."""
    full_env = {**os.environ, "DO_NOT_TRACK": "1", **(env or {})}
    proc = subprocess.run(
        [sys.executable, "-m", "kequn.cli", *args],
        cwd=PROJECT_DIR, env=full_env, capture_output=True, text=True, timeout=timeout,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"kequn {' '.join(args)} exited {proc.returncode}\n"
            f"--- stdout ---\n{proc.stdout[-6000:]}\n--- stderr ---\n{proc.stderr[-6000:]}"
        )
    return proc


def isolated_env(tmp: Path) -> dict[str, str]:
    """dbt artefacts of this run in its own folder, so parallel runs never collide."""
    return {"DBT_TARGET_PATH": str(tmp / "target"), "DBT_LOG_PATH": str(tmp / "logs")}


@pytest.fixture(scope="session")
def handwritten_build(tmp_path_factory) -> Path:
    """The hand-written fixture extract built into a fresh warehouse; returns the DB path."""
    tmp = tmp_path_factory.mktemp("handwritten")
    db = tmp / "kequn.duckdb"
    kequn("build", "--raw-dir", str(FIXTURES / "handwritten_extract"), "--db", str(db),
          env=isolated_env(tmp))
    return db


def query(db: Path, sql: str, *params: object) -> list[tuple]:
    """Rows of one query on a DuckDB file, opened read-only and closed again."""
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql, list(params)).fetchall()
    finally:
        con.close()
