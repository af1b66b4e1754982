"""Write–audit–publish on Postgres: build into a new schema set, swap it in in one transaction.

A build runs dbt with KEQUN_SCHEMA_SUFFIX=__b<id> (macros/generate_schema_name.sql), so every
relation it writes is in `rules__b<id>`, `staging__b<id>`, `intermediate__b<id>`,
`marts__b<id>`; readers keep reading `marts` meanwhile. When every gate passed, `publish`
renames, in one transaction under an advisory lock, each published schema aside and the build's
schema into its name, drops the old ones and grants `bi_reader` read on the marts (and
nothing else). Views keep pointing at the right tables across the renames (Postgres binds
them by object id). If any step fails the transaction rolls back: the published schemas are
exactly as they were, and the build's schemas stay for inspection until `discard`.

The `raw` schema (kequn.engines.pg_load) is not part of a build: it only grows by loads.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from kequn import PROJECT_DIR
from kequn.engines.postgres import READER_ROLE, connect

PUBLISHED_SCHEMAS = ("rules", "staging", "intermediate", "marts")
READABLE_SCHEMAS = ("marts",)  # bi_reader's whole world
READER = READER_ROLE[0]


class PublishError(RuntimeError):
    """A build that was not published; the published schemas are unchanged."""


@dataclass(frozen=True)
class Build:
    build_id: str

    @property
    def suffix(self) -> str:
        return f"__b{self.build_id}"

    def schema(self, published: str) -> str:
        return published + self.suffix


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _schemas(cur) -> set[str]:
    cur.execute("select nspname from pg_namespace")
    return {r[0] for r in cur.fetchall()}


def run_dbt(
    build: Build,
    args: Sequence[str],
    env: dict[str, str] | None = None,
    target_path: Path | None = None,
) -> None:
    """Run one dbt command into the build's schemas (`--target postgres`)."""
    full_env = {
        **os.environ,
        **(env or {}),
        "KEQUN_SCHEMA_SUFFIX": build.suffix,
        "DO_NOT_TRACK": "1",
    }
    target = target_path or PROJECT_DIR / "warehouse" / "pg-builds" / build.build_id / "target"
    cmd = [
        str(Path(sys.executable).with_name("dbt")),
        *args,
        "--target",
        "postgres",
        "--project-dir",
        str(PROJECT_DIR),
        "--profiles-dir",
        str(PROJECT_DIR),
        "--target-path",
        str(target),
        "--log-path",
        str(target.parent / "logs"),
    ]
    done = subprocess.run(cmd, env=full_env, capture_output=True, text=True)
    if done.returncode != 0:
        tail = "\n".join(done.stdout.strip().splitlines()[-15:])
        raise PublishError(
            f"dbt {' '.join(args)} failed in build {build.build_id}; "
            f"published schemas unchanged:\n{tail}"
        )


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
    schemas as they were and raises PublishError."""
    discard(build, env)  # a leftover of an earlier attempt with this id
    for args in dbt_commands:
        run_dbt(build, args, env)
    for gate in gates:
        try:
            gate(build)
        except Exception as exc:
            raise PublishError(
                f"gate {getattr(gate, '__name__', gate)} refused build "
                f"{build.build_id}: {exc}; published schemas unchanged"
            ) from exc
    return publish(build, env)
