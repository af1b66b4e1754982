"""A private PostgreSQL cluster for development and CI, under a project folder.

`initdb` and `pg_ctl` run as the `postgres` user (we are root; Postgres refuses root) on a
port of its own, with the socket in the cluster's folder, so it never meets the machine's
own cluster or another checkout's. Idempotent: `start` on a running cluster, `stop` on a
stopped one and `roles` twice do nothing more.

    python -m kequn.engines.postgres start|stop|status|env [--dir D] [--port P]

Roles: `kequn` (owns database `kequn`; dbt's login) and `bi_reader` (login, granted read on
the published marts only by kequn.engines.pg_publish).
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from kequn import PROJECT_DIR

DEFAULT_DIR = PROJECT_DIR / "warehouse" / "pg"
DEFAULT_PORT = 55432
OS_USER = "postgres"
# (role, password env var, default password); passwords are for a private test cluster.
APP_ROLE = ("kequn", "KEQUN_PG_PASSWORD", "kequn")
READER_ROLE = ("bi_reader", "KEQUN_PG_BI_PASSWORD", "bi_reader")


@dataclass(frozen=True)
class Cluster:
    """Where a private cluster lives and how to reach it."""

    root: Path = DEFAULT_DIR
    port: int = DEFAULT_PORT
    database: str = "kequn"

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def socket_dir(self) -> Path:
        return self.root / "run"

    @property
    def log_file(self) -> Path:
        return self.root / "postgres.log"

    def env(self) -> dict[str, str]:
        """The variables profiles.yml and the tests read to reach this cluster."""
        return {
            "KEQUN_PG_HOST": "127.0.0.1",
            "KEQUN_PG_PORT": str(self.port),
            "KEQUN_PG_USER": APP_ROLE[0],
            "KEQUN_PG_PASSWORD": os.environ.get(APP_ROLE[1], APP_ROLE[2]),
            "KEQUN_PG_DATABASE": self.database,
            "KEQUN_PG_BI_PASSWORD": os.environ.get(READER_ROLE[1], READER_ROLE[2]),
        }


def bin_dir() -> Path:
    """The newest installed PostgreSQL server's bin folder (Debian layout)."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if not found:
        raise RuntimeError(
            "no PostgreSQL server installed (/usr/lib/postgresql/*/bin/initdb): run `make setup`"
        )
    return found[-1].parent


def _as_postgres(args: list[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
    if os.geteuid() == 0:
        args = ["runuser", "-u", OS_USER, "--", *args]
    return subprocess.run(args, check=check, capture_output=True, text=True)


def _give_to_postgres(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(path, OS_USER, OS_USER)
        # the parents only need to be traversable by the postgres user
        for parent in path.parents:
            if parent == Path("/"):
                break
            mode = parent.stat().st_mode
            if not mode & 0o001:
                raise RuntimeError(
                    f"{parent} is not traversable by the {OS_USER} user; "
                    f"put the cluster elsewhere with --dir"
                )


def is_running(cluster: Cluster) -> bool:
    if not (cluster.data_dir / "PG_VERSION").exists():
        return False
    done = _as_postgres(
        [str(bin_dir() / "pg_ctl"), "status", "-D", str(cluster.data_dir)], check=False
    )
    return done.returncode == 0


def init(cluster: Cluster) -> bool:
    """Create the cluster's data folder when absent; True when it was created."""
    if (cluster.data_dir / "PG_VERSION").exists():
        return False
    _give_to_postgres(cluster.root)
    _give_to_postgres(cluster.socket_dir)
    _as_postgres(
        [
            str(bin_dir() / "initdb"),
            "-D",
            str(cluster.data_dir),
            "-U",
            OS_USER,
            "--auth-local=peer",
            "--auth-host=scram-sha-256",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "--no-instructions",
        ]
    )
    return True


def start(cluster: Cluster) -> None:
    """Init when needed, start when stopped, then make sure the roles and database exist."""
    init(cluster)
    if not is_running(cluster):
        opts = (
            f"-p {cluster.port} -k {shlex.quote(str(cluster.socket_dir))} "
            f"-c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off "
            f"-c full_page_writes=off -c shared_buffers=256MB -c max_connections=40"
        )
        done = _as_postgres(
            [
                str(bin_dir() / "pg_ctl"),
                "start",
                "-w",
                "-t",
                "60",
                "-D",
                str(cluster.data_dir),
                "-l",
                str(cluster.log_file),
                "-o",
                opts,
            ],
            check=False,
        )
        if done.returncode != 0:
            log = (
                cluster.log_file.read_text(errors="replace")[-2000:]
                if cluster.log_file.exists()
                else ""
            )
            raise RuntimeError(
                f"pg_ctl start failed on port {cluster.port}: {done.stderr.strip()}\n{log}"
            )
    _wait_ready(cluster)
    ensure_roles(cluster)


def _wait_ready(cluster: Cluster, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        done = _as_postgres(
            [str(bin_dir() / "pg_isready"), "-h", str(cluster.socket_dir), "-p", str(cluster.port)],
            check=False,
        )
        if done.returncode == 0:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"Postgres on port {cluster.port} not ready after {timeout_s:.0f} s")
        time.sleep(0.3)


def psql_as_superuser(cluster: Cluster, sql: str, database: str = "postgres") -> str:
    """Run SQL as the cluster's superuser over its private socket (peer authentication)."""
    done = _as_postgres(
        [
            str(bin_dir() / "psql"),
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            str(cluster.socket_dir),
            "-p",
            str(cluster.port),
            "-d",
            database,
            "-c",
            sql,
        ],
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"psql failed: {done.stderr.strip()}")
    return done.stdout


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def ensure_roles(cluster: Cluster) -> None:
    """Create (or re-password) `kequn` and `bi_reader`, and the database `kequn` owns."""
    env = cluster.env()
    for role, password in (
        (APP_ROLE[0], env["KEQUN_PG_PASSWORD"]),
        (READER_ROLE[0], env["KEQUN_PG_BI_PASSWORD"]),
    ):
        psql_as_superuser(
            cluster,
            f"""
            do $$ begin
                if not exists (select from pg_roles where rolname = {_literal(role)}) then
                    create role {role} login;
                end if;
            end $$;
            alter role {role} with login password {_literal(password)};
        """,
        )
    exists = psql_as_superuser(
        cluster, f"select 1 from pg_database where datname = {_literal(cluster.database)}"
    ).strip()
    if not exists:
        psql_as_superuser(cluster, f"create database {cluster.database} owner {APP_ROLE[0]}")
    # Nobody but the owner creates objects in public; bi_reader only connects.
    psql_as_superuser(
        cluster,
        f"""
        revoke create on schema public from public;
        revoke all on database {cluster.database} from public;
        grant connect on database {cluster.database} to {READER_ROLE[0]};
    """,
        database=cluster.database,
    )


def stop(cluster: Cluster) -> None:
    if is_running(cluster):
        _as_postgres(
            [str(bin_dir() / "pg_ctl"), "stop", "-w", "-m", "fast", "-D", str(cluster.data_dir)]
        )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m kequn.engines.postgres",
        description="The private Postgres cluster of kequn's tests.",
    )
    parser.add_argument("action", choices=["start", "stop", "status", "env"])
    parser.add_argument(
        "--dir",
        type=Path,
        default=Path(os.environ.get("KEQUN_PG_DIR", DEFAULT_DIR)),
        help="cluster folder (default $KEQUN_PG_DIR or warehouse/pg)",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("KEQUN_PG_PORT", DEFAULT_PORT)),
        help=f"TCP port on 127.0.0.1 (default $KEQUN_PG_PORT or {DEFAULT_PORT})",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    cluster = Cluster(root=args.dir.resolve(), port=args.port)
    if args.action == "start":
        start(cluster)
        print(f"postgres running on 127.0.0.1:{cluster.port} ({cluster.data_dir})")
    elif args.action == "stop":
        stop(cluster)
    elif args.action == "status":
        running = is_running(cluster)
        print(
            f"postgres {'running' if running else 'stopped'} "
            f"({cluster.data_dir}, port {cluster.port})"
        )
        return 0 if running else 3
    else:
        for key, value in cluster.env().items():
            print(f"export {key}={shlex.quote(value)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())


def connect(
    env: dict[str, str] | None = None, *, user: str | None = None, password: str | None = None
):  # -> psycopg2 connection
    """A connection to the target profiles.yml's `postgres` output names (the same variables
    and defaults), as `kequn` unless another user is given."""
    import psycopg2

    env = {**os.environ, **(env or {})}
    return psycopg2.connect(
        host=env.get("KEQUN_PG_HOST", "127.0.0.1"),
        port=int(env.get("KEQUN_PG_PORT", DEFAULT_PORT)),
        user=user or env.get("KEQUN_PG_USER", APP_ROLE[0]),
        password=password if password is not None else env.get("KEQUN_PG_PASSWORD", APP_ROLE[2]),
        dbname=env.get("KEQUN_PG_DATABASE", "kequn"),
        connect_timeout=10,
    )


def query(env: dict[str, str] | None, sql: str, *, user: str | None = None,
          password: str | None = None) -> list[tuple]:
    """Every row of one statement, on a connection of its own (closed after)."""
    con = connect(env, user=user, password=password)
    try:
        with con.cursor() as cur:
            cur.execute(sql)
            return cur.fetchall()
    finally:
        con.close()
