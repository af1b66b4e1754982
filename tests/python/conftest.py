"""Shared pytest fixtures: real builds into temporary DuckDB files."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from kequn import PROJECT_DIR
from kequn.state import state_dir

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


# --- a private copy of a published warehouse, and builds on it that must fail cleanly ------


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def copy_warehouse(db: Path, folder: Path) -> Path:
    """Copy a published warehouse and its state folder (all but the build folders)."""
    folder.mkdir()
    dst = folder / db.name
    shutil.copy2(db, dst)
    shutil.copytree(state_dir(db), state_dir(dst), ignore=shutil.ignore_patterns("builds"))
    return dst


@pytest.fixture
def home(handwritten_build: Path, tmp_path: Path) -> Path:
    """A private copy of the published hand-written warehouse: DB and its state (landing,
    history), so each test can build on it without disturbing the others."""
    return copy_warehouse(handwritten_build, tmp_path / "wh")


@pytest.fixture
def raw(tmp_path: Path) -> Path:
    """A private copy of the hand-written extract (file times kept, as a delivery's are)."""
    out = tmp_path / "raw"
    shutil.copytree(FIXTURES / "handwritten_extract", out)
    return out


def build(raw_dir: Path, db: Path, *extra: str) -> subprocess.CompletedProcess:
    return kequn("build", "--raw-dir", str(raw_dir), "--db", str(db), *extra,
                 env=isolated_env(db.parent), check=False)


def assert_failed_cleanly(proc: subprocess.CompletedProcess, db: Path, before: str,
                          *needles: str, code: int | None = None) -> Path:
    """The build failed with every needle in its output, kept its build folder (status
    `failed`, a report) and left the published warehouse byte-for-byte as it was."""
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-4000:]
    if code is not None:
        assert proc.returncode == code, out[-4000:]
    for needle in needles:
        assert needle in out, f"{needle!r} not in output:\n{out[-4000:]}"
    assert sha256(db) == before, "the published warehouse changed"
    assert "published warehouse" in proc.stderr and "unchanged" in proc.stderr
    kept = [line.split(": ", 1)[1] for line in proc.stderr.splitlines()
            if line.startswith("failed build kept for inspection: ")]
    assert kept and Path(kept[0]).is_dir()
    status = json.loads((Path(kept[0]) / "status.json").read_text())
    assert status["state"] == "failed"
    assert (Path(kept[0]) / "report.html").exists()
    with duckdb.connect(str(db), read_only=True) as con:   # still readable
        assert con.execute("select count(*) from marts.client_segments").fetchone()[0] > 0
    return Path(kept[0])


def write_csv(path: Path, header: list[str], rows: list[list[str]], *,
              encoding: str = "utf-8") -> None:
    with path.open("w", newline="", encoding=encoding) as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)


def write_orphan_trades(raw: Path, name: str, n: int = 300) -> None:
    """A new trades file of `n` trades on accounts no extract knows (the marts gate's orphan
    rate refuses it), with the header of the fixture's trades file."""
    header = read_csv(raw / "trades" / "trades_2025-11-27.csv")[0]
    rows = []
    for k in range(n):
        row = {"trade_id": f"TORPH{k:05d}", "account_id": f"A_UNKNOWN_{k}",
               "product_code": "600519.SH", "trade_time": "2025-11-27 11:00:00", "side": "B",
               "quantity": "100", "price": "1600", "amount": "160000", "fee": "5",
               "channel": "app", "status": "filled", "updated_at": "2025-11-27 11:00:00"}
        rows.append([row[c] for c in header])
    write_csv(raw / "trades" / name, header, rows)


def read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    return rows[0], rows[1:]


def query(db: Path, sql: str, *params: object) -> list[tuple]:
    """Rows of one query on a DuckDB file, opened read-only and closed again."""
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql, list(params)).fetchall()
    finally:
        con.close()
