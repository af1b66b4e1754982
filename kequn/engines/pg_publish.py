"""Write–audit–publish on Postgres: build into a new schema set, swap it in in one transaction.

A build runs dbt with KEQUN_SCHEMA_SUFFIX=__build (macros/generate_schema_name.sql), so every
relation it writes is in `rules__build`, `staging__build`, `intermediate__build`,
`marts__build`; readers keep reading `marts` meanwhile. The suffix is the same for every
build (one build at a time, under an advisory lock), so dbt parses the project once for all
builds instead of once per build (~20 s each here). When every gate passed, `publish`
renames, in one transaction under an advisory lock, each published schema aside and the build's
schema into its name, drops the old ones and grants `bi_reader` read on the marts (and
nothing else). Views keep pointing at the right tables across the renames (Postgres binds
them by object id). If any step fails the transaction rolls back: the published schemas are
exactly as they were, and the build's schemas stay for inspection until the next build.

The `raw` schema (kequn.engines.pg_load) is not part of a build: it only grows by loads.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kequn import PROJECT_DIR, dbt
from kequn.dbt import overridden
from kequn.engines.audit import refusal
from kequn.engines.postgres import READER_ROLE, connect

PUBLISHED_SCHEMAS = ("rules", "staging", "intermediate", "marts")
READABLE_SCHEMAS = ("marts",)  # bi_reader's whole world
READER = READER_ROLE[0]
BUILD_SUFFIX = "__build"


def where(env: dict[str, str] | None = None) -> str:
    """`host:port/database` of the KEQUN_PG_* variables (`env` over the environment)."""
    e = {**os.environ, **(env or {})}
    return (f"{e.get('KEQUN_PG_HOST', '127.0.0.1')}:{e.get('KEQUN_PG_PORT', '55432')}/"
            f"{e.get('KEQUN_PG_DATABASE', 'kequn')}")


def state_dir(env: dict[str, str] | None = None) -> Path:
    """What the project keeps of one Postgres database, its own whatever else is built:
    dbt's target folder (manifest.json: what the PII scan reads) and log, shared by its
    builds so each parses only what changed, and one folder per build."""
    return PROJECT_DIR / "warehouse" / "pg-builds" / re.sub(r"[^A-Za-z0-9.-]+", "_", where(env))


class PublishError(RuntimeError):
    """A build that was not published; the published schemas are unchanged."""


@dataclass(frozen=True)
class Build:
    build_id: str

    suffix = BUILD_SUFFIX

    def schema(self, published: str) -> str:
        return published + self.suffix


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _schemas(cur) -> set[str]:
    cur.execute("select nspname from pg_namespace")
    return {r[0] for r in cur.fetchall()}


def run_dbt(build: Build, args: Sequence[str], env: dict[str, str] | None = None,
            callbacks: Sequence[Callable[[Any], None]] = (), echo: bool = False) -> None:
    """Run one dbt command in-process into the build's schemas (`--target postgres`). One
    target folder for every build, so a build's later commands parse only what changed."""
    target = state_dir(env) / "target"
    overrides = {**(env or {}), "KEQUN_SCHEMA_SUFFIX": build.suffix, "DO_NOT_TRACK": "1"}
    with overridden(overrides):
        try:
            dbt.run_dbt([*args, "--target", "postgres"], target_path=target,
                        log_path=target.parent / "logs", callbacks=callbacks, echo=echo)
        except dbt.DbtError as exc:
            raise PublishError(
                f"{exc} (build {build.build_id}; published schemas unchanged)") from exc


def publish(build: Build, env: dict[str, str] | None = None) -> list[str]:
    """Swap the build's schemas in, in one transaction; returns the schemas published."""
    con = connect(env)
    try:
        with con, con.cursor() as cur:
            cur.execute("select pg_advisory_xact_lock(hashtext('kequn.publish'))")
            present = _schemas(cur)
            built = [s for s in PUBLISHED_SCHEMAS if build.schema(s) in present]
            if "marts" not in built:
                raise PublishError(
                    f"build {build.build_id} has no {build.schema('marts')} schema: "
                    "nothing to publish (published schemas unchanged)"
                )
            for schema in built:
                old = f"{schema}__old{build.build_id}"
                if schema in present:
                    cur.execute(f"alter schema {_q(schema)} rename to {_q(old)}")
                cur.execute(f"alter schema {_q(build.schema(schema))} rename to {_q(schema)}")
                if schema in present:
                    cur.execute(f"drop schema {_q(old)} cascade")
            grant_reader(cur)
        return built
    finally:
        con.close()


def grant_reader(cur) -> None:
    """bi_reader may read the tables and views of the marts and nothing else."""
    present = _schemas(cur)
    for schema in sorted(present):
        if schema in ("pg_catalog", "information_schema") or schema.startswith("pg_"):
            continue
        if schema in READABLE_SCHEMAS:
            cur.execute(f"grant usage on schema {_q(schema)} to {READER}")
            cur.execute(f"grant select on all tables in schema {_q(schema)} to {READER}")
        else:
            cur.execute(f"revoke all on schema {_q(schema)} from {READER}")
            cur.execute(f"revoke all on all tables in schema {_q(schema)} from {READER}")


def discard(build: Build, env: dict[str, str] | None = None) -> None:
    """Drop a build's schemas (a failed build is kept until this is called)."""
    con = connect(env)
    try:
        with con, con.cursor() as cur:
            for schema in PUBLISHED_SCHEMAS:
                cur.execute(f"drop schema if exists {_q(build.schema(schema))} cascade")
    finally:
        con.close()


def write_audit_publish(
    build: Build,
    dbt_commands: Sequence[Sequence[str]],
    gates: Sequence[Callable[[Build], None]] = (),
    env: dict[str, str] | None = None,
) -> list[str]:
    """Write (each dbt command into the build's schemas: `build` runs the data tests too),
    audit (each gate raises to refuse the build), publish. Any failure leaves the published
    schemas as they were and raises PublishError. One build at a time per database: a
    second one is refused while the first holds the build lock."""
    steps: list[Step] = [lambda b, a=list(args): run_dbt(b, a, env) for args in dbt_commands]
    return write_audit_publish_steps(build, [*steps, *gates], env)


# One step of a build: writes into the build's schemas (a dbt command) or audits them (a
# gate); either raises to stop the build.
Step = Callable[[Build], None]


def write_audit_publish_steps(build: Build, steps: Sequence[Step],
                              env: dict[str, str] | None = None) -> list[str]:
    """Write–audit–publish with the writes and audits interleaved (`kequn build --target
    postgres`: typing pass, raw gate, the rest of dbt, marts gate). A step raising
    PublishError (a dbt command) stops the build as it is; any other exception is a gate's
    refusal, named. Then publish, under the same rules as write_audit_publish."""
    lock = connect(env)
    try:
        with lock.cursor() as cur:
            cur.execute("select pg_try_advisory_lock(hashtext('kequn.build'))")
            if not cur.fetchone()[0]:
                raise PublishError(f"another build is running on this database; build "
                                   f"{build.build_id} not started (published schemas unchanged)")
        discard(build, env)  # the previous build's schemas, if it failed
        for step in steps:
            try:
                step(build)
            except PublishError:
                raise
            except Exception as exc:  # noqa: BLE001 - a gate's refusal, named
                raise PublishError(refusal(step, build.build_id, exc,
                                           "published schemas unchanged")) from exc
        return publish(build, env)
    finally:
        lock.close()  # ends the session: releases the build lock
