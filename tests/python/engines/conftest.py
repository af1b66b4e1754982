"""The private Postgres cluster for the engine tests, with a database of their own."""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kequn import PROJECT_DIR
from kequn.engines import postgres
from kequn.engines import spark as spark_session

FIXTURES = PROJECT_DIR / "tests" / "fixtures"

TEST_DATABASE = "kequn_test"


def _cluster() -> postgres.Cluster:
    """The private cluster of KEQUN_PG_DIR / KEQUN_PG_PORT (the project's defaults)."""
    return postgres.Cluster(
        root=Path(os.environ.get("KEQUN_PG_DIR", postgres.DEFAULT_DIR)),
        port=int(os.environ.get("KEQUN_PG_PORT", postgres.DEFAULT_PORT)),
    )


@pytest.fixture(scope="session")
def fresh_database() -> Callable[[str], dict[str, str]]:
    """A function making a fresh database of the private cluster (dropped first if it
    exists), owned by the app role; it returns the variables that reach it."""
    def make(name: str) -> dict[str, str]:
        cluster = _cluster()
        postgres.start(cluster)
        postgres.psql_as_superuser(cluster, f"drop database if exists {name} with (force)")
        postgres.psql_as_superuser(cluster,
                                   f"create database {name} owner {postgres.APP_ROLE[0]}")
        return {**cluster.env(), "KEQUN_PG_DATABASE": name}
    return make


@pytest.fixture(scope="session")
def pg_env() -> Iterator[dict[str, str]]:
    """Start the cluster (a no-op when .ci/run or a developer already did), make a fresh
    `kequn_test` database owned by `kequn`, and return the variables that reach it."""
    cluster = _cluster()
    postgres.start(cluster)
    postgres.psql_as_superuser(cluster, f"drop database if exists {TEST_DATABASE} with (force)")
    postgres.psql_as_superuser(
        cluster, f"create database {TEST_DATABASE} owner {postgres.APP_ROLE[0]}"
    )
    postgres.psql_as_superuser(
        cluster,
        f"""
        revoke all on database {TEST_DATABASE} from public;
        revoke create on schema public from public;
        grant connect on database {TEST_DATABASE} to {postgres.READER_ROLE[0]};
    """,
        database=TEST_DATABASE,
    )
    yield {**cluster.env(), "KEQUN_PG_DATABASE": TEST_DATABASE}


def _drop_csv_column(path: Path, column: str) -> None:
    """Rewrite a delivered CSV without one of its columns (a delivery that breaks the contract)."""
    with open(path, encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    drop = rows[0].index(column)
    with open(path, "w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([r[:drop] + r[drop + 1:] for r in rows])


@pytest.fixture(scope="module")
def spark(tmp_path_factory) -> Iterator[tuple[Any, dict[str, str]]]:
    """One local Spark session per test module (its warehouse and metastore in a temporary
    folder), reading the hand-written fixture: (session, the variables dbt needs)."""
    root = tmp_path_factory.mktemp("spark")
    env = {**spark_session.environ(root / "spark"),
           "KEQUN_RAW_DIR": str(FIXTURES / "handwritten_extract")}
    mp = pytest.MonkeyPatch()
    for key, value in env.items():
        mp.setenv(key, value)
    session = spark_session.session(root / "spark")
    yield session, env
    session.stop()
    mp.undo()


@pytest.fixture
def drop_csv_column() -> Callable[[Path, str], None]:
    return _drop_csv_column
