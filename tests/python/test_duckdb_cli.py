"""Any DuckDB client opens the published warehouse: the file is in a format DuckDB 1.5 reads.

The client is the real DuckDB 1.5 CLI that `make setup` installs (`duckdb-cli` from PyPI,
`.venv/bin/duckdb`), run on a real build of the hand-written extract.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
import yaml

from kequn import PROJECT_DIR, publish

CLI = Path(sys.executable).parent / "duckdb"


def cli(db: Path, sql: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(CLI), "-readonly", "-csv", str(db), sql],
                          capture_output=True, text=True, timeout=120)


def storage_version(db: Path) -> str:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute("select tags['storage_version'] from duckdb_databases() "
                           "where database_name = current_database()").fetchone()[0]


def test_the_cli_is_duckdb_1_5_beside_the_2_0_python_module():
    out = subprocess.run([str(CLI), "--version"], capture_output=True, text=True).stdout
    assert out.startswith("v1.5."), out
    assert duckdb.__version__.startswith("2.0."), "duckdb-cli must not replace the module"


def test_a_fresh_build_database_is_in_the_1_5_format(tmp_path):
    db = tmp_path / "fresh.duckdb"
    publish.create_database(db)
    assert storage_version(db) == f"{publish.STORAGE_VERSION}+"
    assert cli(db, "select 42 as answer").stdout.split() == ["answer", "42"]


def test_a_file_dbt_creates_is_in_the_same_format():
    profile = yaml.safe_load((PROJECT_DIR / "profiles.yml").read_text(encoding="utf-8"))
    options = profile["kequn"]["outputs"]["duckdb"]["config_options"]
    assert options["storage_compatibility_version"] == publish.STORAGE_VERSION


@pytest.mark.slow
def test_duckdb_1_5_cli_reads_the_published_warehouse(handwritten_build: Path):
    # dbt reopened and rewrote the file, GX read it, publishing checkpointed it: still 1.5
    assert storage_version(handwritten_build) == f"{publish.STORAGE_VERSION}+"
    proc = cli(handwritten_build, "select count(*) as clients, count(distinct primary_group) "
                                  "as groups from marts.client_segments")
    assert proc.returncode == 0, proc.stderr
    header, row = proc.stdout.split()
    assert header == "clients,groups"
    assert int(row.split(",")[0]) > 0


def _make(path: Path, rows: int) -> None:
    con = duckdb.connect()
    con.execute(f"attach '{path}' as d (storage_version '{publish.STORAGE_VERSION}')")
    con.execute(f"create table d.t as select range as x from range({rows})")
    con.close()


def test_a_reader_keeps_its_build_when_a_new_one_is_published(tmp_path):
    """What README.md says happens to a connected client when a build is published."""
    published = tmp_path / "kequn.duckdb"
    _make(published, 10)
    reader = subprocess.Popen([str(CLI), "-readonly", "-csv", str(published)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    python_reader = duckdb.connect(str(published), read_only=True)
    try:
        assert python_reader.execute("select count(*) from t").fetchone()[0] == 10
        reader.stdin.write("select count(*) as n from t;\n")
        reader.stdin.flush()
        _make(tmp_path / "next.duckdb", 20)
        os.replace(tmp_path / "next.duckdb", published)   # what publish.publish does
        # open connections keep answering from the build they opened ...
        assert python_reader.execute("select count(*) from t").fetchone()[0] == 10
        with duckdb.connect(str(published), read_only=True) as same_process:
            assert same_process.execute("select count(*) from t").fetchone()[0] == 10
        reader.stdin.write("select count(*) as n from t;\n")
        out, _ = reader.communicate(timeout=60)
        assert re.findall(r"^\d+$", out, re.M) == ["10", "10"]
        # ... a new process sees the new build
        assert cli(published, "select count(*) as n from t").stdout.split() == ["n", "20"]
    finally:
        python_reader.close()
        if reader.poll() is None:
            reader.kill()
    with duckdb.connect(str(published), read_only=True) as again:   # every old one closed
        assert again.execute("select count(*) from t").fetchone()[0] == 20
