"""Write–audit–publish: every build writes into its own folder; publishing is one rename.

Layout of a warehouse (`--db`, e.g. warehouse/kequn.duckdb). Everything it keeps besides
the published file lives in its own state folder (`kequn.state.state_dir`), so two
warehouses in one folder never share landing, builds or history:

    warehouse/
      kequn.duckdb              what BI tools read; only ever replaced by os.replace
      kequn.state/
        landing/                landed Parquet of every published build (append-only) and
                                _manifest.json: every file read (size, fingerprint, rows, batch)
        builds/<run_id>/        one folder per build: kequn.duckdb (until published),
                                landing/ (hard links + new batches), target/ (dbt
                                artefacts), gx_context/ (GX results, Data Docs),
                                report.html, status.json
        gate_history.jsonl      one line per build: gates, timings, outcome
        build.lock              held by the running build (one build per warehouse)

A build never opens the published file for writing: it starts from a *copy* (so incremental
models keep their history) and its own hard-linked copy of the landing folder. Killing the
process at any moment leaves the published file and landing folder as they were; the
abandoned build folder stays for inspection (status.json says `running`).
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from kequn.state import state_dir

STATUS_FILE = "status.json"
MANIFEST = "_manifest.json"
# Storage format of every warehouse file we create: the newest that DuckDB 1.5 (the PyPI
# `duckdb` CLI, BI tools embedding DuckDB 1.x) can open. DuckDB keeps a file's format when
# it reopens, writes and checkpoints it, so copies and published files keep it too.
# profiles.yml sets the same for files dbt creates itself (`dbt build` by hand).
STORAGE_VERSION = "v1.5.0"


class PublishError(RuntimeError):
    """Publishing was refused or failed; the published warehouse is unchanged."""


@dataclass
class BuildPaths:
    run_id: str
    home: Path            # folder of the published warehouse
    state: Path           # the warehouse's own state folder (kequn.state.state_dir)
    published_db: Path
    published_landing: Path
    build_dir: Path
    build_db: Path
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
    return BuildPaths(
        run_id=run_id, home=db.parent, state=state, published_db=db,
        published_landing=state / "landing",
        build_dir=build_dir, build_db=build_dir / db.name, build_landing=build_dir / "landing",
        target=build_dir / "target", report=build_dir / "report.html",
        history=state / "gate_history.jsonl", lock=state / "build.lock",
    )


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


def prepare(p: BuildPaths, *, full_refresh: bool) -> None:
    """Create the build folder: a copy of the published DB and landing (unless full refresh)."""
    p.build_dir.mkdir(parents=True, exist_ok=False)
    write_status(p, "running")
    p.build_landing.mkdir()
    if full_refresh:
        create_database(p.build_db)
        return
    if p.published_landing.is_dir():
        _link_tree(p.published_landing, p.build_landing)
    if p.published_db.exists():
        wal = p.published_db.with_name(p.published_db.name + ".wal")
        if wal.exists():
            raise PublishError(
                f"{wal} exists: something has the published warehouse open for writing (or "
                "crashed while writing it). Close it (or check it and remove the .wal) first.")
        tmp = p.build_db.with_name(p.build_db.name + ".copying")
        shutil.copyfile(p.published_db, tmp)
        os.replace(tmp, p.build_db)
    else:
        create_database(p.build_db)


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


def publish(p: BuildPaths, *, full_refresh: bool) -> float:
    """Checkpoint and close the build DB, then atomically put it (and its landing) in place."""
    start = time.perf_counter()
    wal = p.published_db.with_name(p.published_db.name + ".wal")
    if wal.exists():
        raise PublishError(f"refusing to publish: {wal} exists (the published warehouse is "
                           "open for writing or a writer crashed)")
    con = duckdb.connect(str(p.build_db))
    try:
        con.execute("checkpoint")
    finally:
        con.close()
    build_wal = p.build_db.with_name(p.build_db.name + ".wal")
    if build_wal.exists():
        raise PublishError(f"{build_wal} still exists after checkpoint; not publishing")
    with open(p.build_db, "rb+") as fh:
        os.fsync(fh.fileno())
    # Landing first: if we die between the two steps, the next build simply rebuilds from
    # the (complete) landing; the published DB is still the previous, consistent one.
    _publish_landing(p, full_refresh=full_refresh)
    os.replace(p.build_db, p.published_db)
    _fsync_dir(p.home)
    _fsync_dir(p.state)
    return time.perf_counter() - start


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
