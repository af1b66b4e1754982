"""`kequn build --target postgres` as a user runs it, on the real private cluster: a build of
the hand-written fixture is published; a delivery breaking the contract is refused at the
load; a build the marts gate refuses leaves the published schemas as they were and keeps its
own for inspection; an unreachable server is said plainly. (That the published answers equal
DuckDB's is test_equal_postgres.py.)"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import FIXTURES, isolated_env, kequn, read_csv, write_csv, write_orphan_trades

from kequn.engines import postgres
from kequn.engines.pg_publish import state_dir

DATABASE = "kequn_build_cli"


def _one(env: dict[str, str], sql: str) -> tuple:
    return postgres.query(env, sql)[0]


def _published(env: dict[str, str]) -> tuple:
    """Which schema objects serve readers, and what they hold."""
    return (_one(env, "select 'marts'::regnamespace::oid, 'staging'::regnamespace::oid")
            + _one(env, "select count(*), sum(total_assets) from marts.client_segments")
            + _one(env, "select count(*) from raw._files"))


@pytest.fixture(scope="module")
def built(fresh_database, tmp_path_factory) -> tuple[dict[str, str], Path, Path]:
    """A fresh database holding a published build of a copy of the fixture extract."""
    tmp = tmp_path_factory.mktemp("pg_build")
    raw = tmp / "raw"
    shutil.copytree(FIXTURES / "handwritten_extract", raw)
    env = {**fresh_database(DATABASE), **isolated_env(tmp)}
    proc = kequn("build", "--target", "postgres", "--raw-dir", str(raw), env=env, timeout=3600)
    for stage in ("load", "dbt typing", "raw gate", "dbt build", "marts gate", "publish"):
        assert f"  {stage:<11} ok" in proc.stdout, proc.stdout
    assert "20 new files" in proc.stdout
    return env, raw, tmp


def test_build_is_published(built: tuple[dict[str, str], Path, Path]) -> None:
    env = built[0]
    (clients,) = _one(env, "select count(*) from marts.client_segments")
    assert clients > 0
    leftovers = _one(env, "select count(*) from pg_namespace where nspname like '%\\_\\_build'")
    assert leftovers == (0,)
    # the build's folder is the database's own, and records every stage and both gates
    runs = sorted((state_dir(env) / "builds").glob("*/run.json"))
    doc = json.loads(runs[-1].read_text())
    assert doc["status"] == "published"
    assert doc["gates"]["raw"]["success"] and doc["gates"]["marts"]["success"]
    # name and phone are checked present in each clients file but never loaded
    assert _one(env, "select count(*), count(name), count(phone) from raw.clients")[1:] == (0, 0)


def test_missing_column_refused_at_load(built: tuple[dict[str, str], Path, Path]) -> None:
    env, raw, tmp = built
    before = _published(env)
    src = raw / "trades" / "trades_2025-11-27.csv"
    header, rows = read_csv(src)
    i = header.index("price")
    bad = raw / "trades" / "trades_2099-01-01.csv"
    write_csv(bad, header[:i] + header[i + 1:], [r[:i] + r[i + 1:] for r in rows])
    try:
        proc = kequn("build", "--target", "postgres", "--raw-dir", str(raw), env=env,
                     check=False)
    finally:
        bad.unlink()
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "trades" in proc.stderr and "trades_2099-01-01.csv" in proc.stderr
    assert "lacks contract column price" in proc.stderr
    assert _published(env) == before      # nothing loaded, nothing published


def test_refused_build_leaves_published_schemas(built: tuple[dict[str, str], Path, Path]
                                                ) -> None:
    env, raw, _ = built
    before = _published(env)
    write_orphan_trades(raw, "trades_2099-02-01.csv")
    proc = kequn("build", "--target", "postgres", "--raw-dir", str(raw), env=env, check=False,
                 timeout=3600)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "marts gate" in proc.stderr and "orphan" in proc.stderr
    assert "published schemas" in proc.stderr and "unchanged" in proc.stderr
    after = _published(env)
    assert after[:4] == before[:4]        # the same schema objects, the same answers
    assert after[4] == before[4] + 1      # the new file was loaded: raw grows by loads
    # the refused build is kept for inspection, and shows why
    (orphans,) = _one(env, "select orphan_rows from marts__build.dq_reconciliation "
                           "where table_name = 'trades'")
    assert orphans >= 300


def test_unreachable_server_is_named(tmp_path: Path) -> None:
    proc = kequn("build", "--target", "postgres", "--raw-dir",
                 str(FIXTURES / "handwritten_extract"),
                 env={"KEQUN_PG_HOST": "127.0.0.1", "KEQUN_PG_PORT": "1",
                      **isolated_env(tmp_path)}, check=False)
    assert proc.returncode == 2
    assert "cannot reach Postgres at 127.0.0.1:1/" in proc.stderr
    assert "python -m kequn.engines.postgres start" in proc.stderr
