"""The private Postgres cluster for the engine tests, with a database of their own."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from kequn.engines import postgres

TEST_DATABASE = "kequn_test"


@pytest.fixture(scope="session")
def pg_env() -> Iterator[dict[str, str]]:
    """Start the cluster (a no-op when .ci/run or a developer already did), make a fresh
    `kequn_test` database owned by `kequn`, and return the variables that reach it."""
    cluster = postgres.Cluster(
        root=Path(os.environ.get("KEQUN_PG_DIR", postgres.DEFAULT_DIR)),
        port=int(os.environ.get("KEQUN_PG_PORT", postgres.DEFAULT_PORT)),
    )
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
