"""Write–audit–publish without copying the warehouse: nightly builds update a working
database in place; publishing writes only what readers read and is one rename.

Layout of a warehouse (`--db`, e.g. warehouse/kequn.duckdb). Everything it keeps besides
the published file lives in its own state folder (`kequn.state.state_dir`), so two
warehouses in one folder never share landing, builds or history:

    warehouse/
      kequn.duckdb              what BI tools read: the `marts` and `rules` schemas only
                                (PUBLISHED_SCHEMAS), plain tables; only ever replaced by
                                os.replace with the next build's file: written fresh by a
                                full refresh, and by a nightly build as a byte copy of it
                                with the rebuilt tables and the history marts' restated
                                months replaced (write_published)
      kequn.state/
        work/kequn.duckdb       the working database: base, staging, intermediate, marts,
                                everything dbt builds. Nightly builds update it in place;
                                nobody else opens it (kequn.state.working_db)
        landing/                landed Parquet of every published build (append-only) and
                                _manifest.json: every file read (size, fingerprint, rows,
                                batch). The manifest is the committed landing state.
        builds/<run_id>/        one folder per build: landing/ (hard links + new batches),
                                target/ (dbt artefacts), gx_context/ (GX results, Data
                                Docs), report.html, status.json, publish/kequn.duckdb
                                (what the build published, or would have: kept when it
                                fails), and for a full refresh its own fresh kequn.duckdb
                                (the next working database, moved in on success)
        gate_history.jsonl      one line per build: gates, timings, outcome
        build.lock              held by the running build (one build per warehouse)

Why this holds write–audit–publish without a copy (DECISIONS.md, "Publishing without a
copy"): readers only ever open the published file, which no build opens for writing, so
they keep working during a build and see the previous build until the rename, then the
next one (a connection opened before keeps reading the file it opened). The working
database may be left half-updated by a failed or killed nightly build; that is harmless
because every incremental model is keyed to the *committed* landing state (the batch the
last published build read, passed to dbt as `kequn_committed_batch`), never to its own
table: the next build deletes the batches above it from the batch-partitioned models and
recomputes every partition above it (its own new batch and whatever the failed build
wrote), so a retry replays instead of restoring a backup. A kill at any moment leaves the
published file and the landing manifest as they were; the build folder stays for
inspection (status.json says `running`). A failed build also writes what it would have
published into its folder, so it can be inspected after the working database moved on.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from kequn.sql import sql_str as _sql_str
from kequn.state import state_dir, working_db

STATUS_FILE = "status.json"
MANIFEST = "_manifest.json"
# Storage format of every warehouse file we create: the newest that DuckDB 1.5 (the PyPI
# `duckdb` CLI, BI tools embedding DuckDB 1.x) can open. DuckDB keeps a file's format when
# it reopens, writes and checkpoints it, so copies and published files keep it too.
# profiles.yml sets the same for files dbt creates itself (`dbt build` by hand).
STORAGE_VERSION = "v1.5.0"
# What the published file holds: what readers and kequn's own read commands (summary,
# report, export, campaign, docs, `mf`) read. Base, staging and intermediate stay in the
# working database (kequn.state.working_db).
PUBLISHED_SCHEMAS = ("marts", "rules")
PUBLISH_DIR = "publish"


# Testing write–audit–publish (tests/python/test_wap.py): the build kills itself with
# SIGKILL, exactly as `kill -9` would, when it reaches the point named here (a stage name,
# or one of PUBLISH_POINTS inside publishing).
KILL_AT = "KEQUN_KILL_AT"
PUBLISH_POINTS = ("publish:written", "publish:work-aside", "publish:landing-committed",
                  "publish:work-in")


def crash_point(name: str) -> None:
    """Die here, as a kill -9 would, when KEQUN_KILL_AT names this point."""
    if os.environ.get(KILL_AT) == name:
        os.kill(os.getpid(), signal.SIGKILL)


class PublishError(RuntimeError):
    """Publishing was refused or failed; the published warehouse is unchanged."""


@dataclass
class BuildPaths:
    run_id: str
    home: Path            # folder of the published warehouse
    state: Path           # the warehouse's own state folder (kequn.state.state_dir)
    published_db: Path
    published_landing: Path
    working_db: Path      # the committed working database (kequn.state.working_db)
    build_dir: Path
    build_db: Path        # what dbt writes: working_db, or a fresh one for a full refresh
    fresh_db: Path        # a full refresh's fresh working database, in the build folder
    candidate_db: Path    # what this build publishes (or would have), in the build folder
    build_landing: Path
    target: Path
    report: Path
    history: Path         # gate_history.jsonl
    lock: Path            # build.lock


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]


def paths_for(db: Path, run_id: str) -> BuildPaths:
    db = db.resolve()
    state = state_dir(db)
    build_dir = state / "builds" / run_id
    work = working_db(db)
    return BuildPaths(
        run_id=run_id, home=db.parent, state=state, published_db=db,
        published_landing=state / "landing", working_db=work,
        build_dir=build_dir, build_db=work, fresh_db=build_dir / db.name,
        candidate_db=build_dir / PUBLISH_DIR / db.name,
        build_landing=build_dir / "landing",
        target=build_dir / "target", report=build_dir / "report.html",
        history=state / "gate_history.jsonl", lock=state / "build.lock",
    )


def committed_batch(p: BuildPaths) -> int:
    """The greatest landing batch the last published build read (0 if none): the
    committed landing state every incremental model is keyed to (`kequn_committed_batch`)."""
    try:
        doc = json.loads((p.published_landing / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return 0
    return max((int(f.get("batch_id") or 0) for f in doc.get("files", {}).values()),
               default=0)


def write_status(p: BuildPaths, state: str, **extra) -> None:
    doc = {"run_id": p.run_id, "state": state, "pid": os.getpid(),
           "updated_at": datetime.now(UTC).isoformat(timespec="seconds"), **extra}
    tmp = p.build_dir / (STATUS_FILE + ".tmp")
    tmp.write_text(json.dumps(doc, indent=1, default=str), encoding="utf-8")
    os.replace(tmp, p.build_dir / STATUS_FILE)


def _link_tree(src: Path, dst: Path) -> None:
    """Copy a folder of immutable files as hard links (a copy where linking is impossible)."""
    for path in sorted(src.rglob("*")):
        rel = path.relative_to(src)
        out = dst / rel
        if path.is_dir():
            out.mkdir(parents=True, exist_ok=True)
            continue
        out.parent.mkdir(parents=True, exist_ok=True)
        if path.name == MANIFEST or path.name.endswith(".tmp"):
            if path.name == MANIFEST:
                shutil.copy2(path, out)   # rewritten by landing: never share the inode
            continue
        try:
            os.link(path, out)
        except OSError:
            shutil.copy2(path, out)


def needs_full_refresh(p: BuildPaths) -> str | None:
    """Why this warehouse cannot be updated in place (None when it can): a nightly build
    needs the working database and the committed landing manifest it was built from."""
    if not (p.published_landing / MANIFEST).exists():
        return (f"{p.published_landing / MANIFEST} is missing, so what {p.published_db.name} "
                "was built from is unknown")
    if not p.working_db.exists():
        return (f"{p.working_db} (the working database nightly builds update) is missing: "
                "the warehouse predates it, or it was removed")
    return None


def prepare(p: BuildPaths, *, full_refresh: bool) -> None:
    """Create the build folder. A full refresh builds a fresh database in it; a nightly
    build updates the working database in place (no copy) and reads a hard-linked copy
    of the committed landing folder."""
    p.build_dir.mkdir(parents=True, exist_ok=False)
    write_status(p, "running", step="prepare")
    crash_point("prepare")
    p.build_landing.mkdir()
    if full_refresh:
        p.build_db = p.fresh_db
        create_database(p.build_db)
        return
    if p.published_landing.is_dir():
        _link_tree(p.published_landing, p.build_landing)
    p.build_db = p.working_db


def create_database(path: Path) -> None:
    """An empty DuckDB file in STORAGE_VERSION (dbt would create one in DuckDB's newest)."""
    quoted = str(path).replace("'", "''")
    con = duckdb.connect()
    try:
        con.execute(f"attach '{quoted}' as fresh (storage_version '{STORAGE_VERSION}')")
    finally:
        con.close()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _publish_landing(p: BuildPaths, *, full_refresh: bool) -> None:
    if full_refresh or not p.published_landing.is_dir():
        staged = p.state / f".landing-{p.run_id}"
        _link_tree(p.build_landing, staged)
        old = p.state / f".landing-old-{p.run_id}"
        if p.published_landing.exists():
            os.rename(p.published_landing, old)
        os.rename(staged, p.published_landing)
        shutil.rmtree(old, ignore_errors=True)
        return
    # Append-only: link the new batch files in, then switch the manifest (one rename).
    for path in sorted(p.build_landing.rglob("*.parquet")):
        out = p.published_landing / path.relative_to(p.build_landing)
        if out.exists():
            continue
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name("." + out.name + ".tmp")
        try:
            os.link(path, tmp)
        except OSError:
            shutil.copy2(path, tmp)
        os.replace(tmp, out)
    src = p.build_landing / MANIFEST
    if src.exists():
        tmp = p.published_landing / (MANIFEST + ".tmp")
        shutil.copy2(src, tmp)
        os.replace(tmp, p.published_landing / MANIFEST)


# The intermediate model whose `is_computed` dates are the as-of dates this build computed
# client state for: every partition a history mart rebuilt sits in one of their months
# (macros/incremental/history_partitions.sql, as_of_compute_from).
AS_OF_SPINE = "int_as_of_dates_spined"
HISTORY_PARTITION = "partition_month_end"


@dataclass
class Published:
    """What write_published wrote: rows per `schema.table`, the tables written whole, and
    the history tables of which only the months from `from_month` were replaced."""
    rows: dict[str, int]
    rewritten: list[str]
    by_partition: list[str]
    from_month: str | None = None

    def line(self) -> str:
        if not self.by_partition:
            return f"{len(self.rewritten)} tables written fresh"
        return (f"{len(self.rewritten)} tables rewritten, {len(self.by_partition)} history "
                f"tables updated from {self.from_month} on ({', '.join(self.by_partition)})")


def history_tables(manifest: Path) -> tuple[set[tuple[str, str]], tuple[str, str] | None]:
    """({(schema, table)} of the models incremental by HISTORY_PARTITION, the AS_OF_SPINE
    relation) from the build's dbt manifest; empty/None when it cannot be read."""
    try:
        doc = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set(), None
    history: set[tuple[str, str]] = set()
    spine = None
    for node in doc.get("nodes", {}).values():
        if node.get("resource_type") != "model":
            continue
        relation = (node["schema"], node.get("alias") or node["name"])
        config = node.get("config", {})
        key = config.get("unique_key") or config.get("partition_by")
        if isinstance(key, list):
            key = key[0] if len(key) == 1 else None
        if config.get("materialized") == "incremental" and key == HISTORY_PARTITION:
            history.add(relation)
        if node["name"] == AS_OF_SPINE:
            spine = relation
    return history, spine


def write_published(src: Path, dst: Path, *, previous: Path | None = None,
                    manifest: Path | None = None) -> Published:
    """Write what readers read (every table and view of PUBLISHED_SCHEMAS in `src`, as
    plain tables) into a new DuckDB file `dst` in STORAGE_VERSION, checkpointed and
    fsynced. `dst` must not exist.

    Without `previous`, every table is written fresh. With `previous` (the file the last
    build published; never written in place, so its bytes are a committed state) and the
    build's dbt `manifest`, `dst` starts as a byte copy of it and only what the build
    changed is written: a history mart (incremental by HISTORY_PARTITION) gets its months
    from the first month the build computed (AS_OF_SPINE's `is_computed` dates) replaced
    from `src`; every other table is written whole (dbt rebuilt it). The months before
    are, in `src`, what the last published build left: no build writes them (a failed
    build's months lie above the committed state, and the retry computes from them).
    A history table whose columns changed, or whose row count then differs from `src`'s,
    is written whole."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(dst.name + ".writing")
    for stale in (tmp, tmp.with_name(tmp.name + ".wal")):
        stale.unlink(missing_ok=True)
    history, spine = history_tables(manifest) if manifest else (set(), None)
    if previous is not None:
        shutil.copyfile(previous, tmp)
    con = duckdb.connect()
    out = Published(rows={}, rewritten=[], by_partition=[])
    try:
        con.execute(f"attach {_sql_str(src)} as work (read_only)")
        if previous is not None:
            con.execute(f"attach {_sql_str(tmp)} as pub")
        else:
            con.execute(f"attach {_sql_str(tmp)} as pub (storage_version '{STORAGE_VERSION}')")
        from_month = _first_computed_month(con, spine) if previous is not None else None
        out.from_month = from_month
        schemas = ", ".join(_sql_str(x) for x in PUBLISHED_SCHEMAS)
        relations = con.execute(
            "select schema_name, table_name from duckdb_tables() where database_name = "
            f"'work' and schema_name in ({schemas}) union select schema_name, view_name "
            f"from duckdb_views() where database_name = 'work' and schema_name in "
            f"({schemas}) and not internal order by 1, 2").fetchall()
        kept = set(relations)
        for schema, table in con.execute(
                "select schema_name, table_name from duckdb_tables() "
                "where database_name = 'pub'").fetchall():
            if (schema, table) not in kept:
                con.execute(f'drop table pub."{schema}"."{table}"')
        for schema in sorted({r[0] for r in relations}):
            con.execute(f'create schema if not exists pub."{schema}"')
        for schema, table in relations:
            name = f'"{schema}"."{table}"'
            if ((schema, table) in history and from_month is not None
                    and _same_columns(con, schema, table)):
                con.execute(f"delete from pub.{name} where {HISTORY_PARTITION} >= "
                            f"date {_sql_str(from_month)}")
                con.execute(f"insert into pub.{name} by name select * from work.{name} "
                            f"where {HISTORY_PARTITION} >= date {_sql_str(from_month)}")
                published = _count(con, "pub", name)
                if published == _count(con, "work", name):
                    out.by_partition.append(table)
                    out.rows[f"{schema}.{table}"] = published
                    continue
            con.execute(f"create or replace table pub.{name} as from work.{name}")
            out.rewritten.append(table)
            out.rows[f"{schema}.{table}"] = _count(con, "pub", name)
        con.execute("checkpoint pub")
        con.execute("detach pub")
    finally:
        con.close()
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, dst)
    return out


def _first_computed_month(con: duckdb.DuckDBPyConnection,
                          spine: tuple[str, str] | None) -> str | None:
    """'YYYY-MM-01' of the earliest as-of date this build computed, or None (unknown)."""
    if spine is None:
        return None
    try:
        (first,) = con.execute(
            f"select strftime(date_trunc('month', min(as_of_date)), '%Y-%m-%d') "
            f'from work."{spine[0]}"."{spine[1]}" where is_computed').fetchone()
    except duckdb.Error:
        return None
    return first


def _same_columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    def columns(db: str) -> list[tuple]:
        return con.execute(
            "select column_name, data_type from duckdb_columns() where database_name = ? "
            "and schema_name = ? and table_name = ? order by column_index",
            [db, schema, table]).fetchall()
    found = columns("pub")
    return bool(found) and found == columns("work")


def _count(con: duckdb.DuckDBPyConnection, db: str, name: str) -> int:
    return con.execute(f"select count(*) from {db}.{name}").fetchone()[0]


def _checkpoint(db: Path) -> None:
    con = duckdb.connect(str(db))
    try:
        con.execute("checkpoint")
    finally:
        con.close()
    wal = db.with_name(db.name + ".wal")
    if wal.exists():
        raise PublishError(f"{wal} still exists after checkpoint; not publishing")
    with open(db, "rb+") as fh:
        os.fsync(fh.fileno())


def keep_for_inspection(p: BuildPaths) -> Path | None:
    """A failed build: write what it would have published into its folder (the working
    database moves on with the next build). None when there is nothing to write."""
    if not p.build_db.exists() or p.candidate_db.exists():
        return p.candidate_db if p.candidate_db.exists() else None
    _checkpoint(p.build_db)
    write_published(p.build_db, p.candidate_db, **_since_published(p, full_refresh=False))
    return p.candidate_db


def _since_published(p: BuildPaths, *, full_refresh: bool) -> dict[str, Path | None]:
    """write_published's arguments to update the last published file (none: write fresh)."""
    if full_refresh or p.build_db == p.fresh_db or not p.published_db.is_file():
        return {}
    return {"previous": p.published_db, "manifest": p.target / "manifest.json"}


def publish(p: BuildPaths, *, full_refresh: bool) -> Published:
    """Write the published file from the build's database into the build folder, commit
    the landing manifest, (full refresh) move the fresh working database in, and put the
    new published file in place with one os.replace. Returns what was written.

    Order, so that a kill between any two steps is safe: until the manifest is committed
    nothing is; a full refresh first moves the old working database aside (a missing
    working database makes the next build a full refresh, never an update of a database
    built from another landing); once the manifest is committed the working database
    matches it and the next build only republishes."""
    wal = p.published_db.with_name(p.published_db.name + ".wal")
    if wal.exists():
        raise PublishError(f"refusing to publish: {wal} exists (the published warehouse is "
                           "open for writing or a writer crashed)")
    _checkpoint(p.build_db)
    written = write_published(p.build_db, p.candidate_db,
                              **_since_published(p, full_refresh=full_refresh))
    crash_point("publish:written")
    old_work = p.state / f".work-old-{p.run_id}"
    if full_refresh and p.working_db.parent.exists():
        os.rename(p.working_db.parent, old_work)
        crash_point("publish:work-aside")
    # The landing manifest is the commit point of what was read.
    _publish_landing(p, full_refresh=full_refresh)
    crash_point("publish:landing-committed")
    if full_refresh:
        staged = p.build_dir / "work"
        staged.mkdir()
        os.rename(p.build_db, staged / p.working_db.name)
        os.rename(staged, p.working_db.parent)
        _fsync_dir(p.state)
        crash_point("publish:work-in")
    os.replace(p.candidate_db, p.published_db)
    _fsync_dir(p.home)
    _fsync_dir(p.state)
    shutil.rmtree(old_work, ignore_errors=True)
    return written


def cleanup(state: Path, *, keep_published: int = 3, keep_failed: int = 10) -> list[Path]:
    """Delete old build folders under `<state>/builds`: keep the newest published and failed
    ones (`state` is the warehouse's state folder). Returns those removed."""
    builds = state / "builds"
    if not builds.is_dir():
        return []
    by_state: dict[str, list[Path]] = {"published": [], "failed": []}
    for d in sorted((x for x in builds.iterdir() if x.is_dir()), reverse=True):
        try:
            doc = json.loads((d / STATUS_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        state = doc.get("state")
        if state == "running":
            pid = doc.get("pid")
            if _alive(pid):
                continue
            state = "failed"   # killed: keep it like a failed build
        by_state.setdefault(state, []).append(d)
    removed = []
    for state, keep in (("published", keep_published), ("failed", keep_failed)):
        for d in by_state.get(state, [])[keep:]:
            shutil.rmtree(d, ignore_errors=True)
            removed.append(d)
    return removed


def _alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True
