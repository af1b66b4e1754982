"""Landing: copy each delivered raw file once into text-only Parquet beside the warehouse.

The raw directory is an external system's format (see the contract); landing is the one
place that touches it. Each table folder's CSV and Parquet files are read with every
column as text, checked for the contract's columns (a missing one fails, naming the
table, file and column), and appended to `<landing>/<table>/batch_<n>.parquet` with
lineage columns. A manifest remembers which files were landed, so a nightly run lands
only the new day's files. Nothing here interprets values: cleaning is staging's job.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from kequn.contract import raw_tables

MANIFEST = "_manifest.json"
SUFFIXES = {".csv": "csv", ".parquet": "parquet"}


class LandingError(RuntimeError):
    """A delivery that breaks the contract: the message names table, file and column."""


@dataclass
class TableLanding:
    table: str
    files_total: int = 0
    files_new: int = 0
    rows_new: int = 0
    rows_total: int = 0
    extra_columns: dict[str, list[str]] = field(default_factory=dict)
    ignored_files: list[str] = field(default_factory=list)


@dataclass
class LandingReport:
    raw_dir: Path
    landing_dir: Path
    batch_id: int
    seconds: float
    tables: dict[str, TableLanding]

    @property
    def rows_new(self) -> int:
        return sum(t.rows_new for t in self.tables.values())

    def lines(self) -> list[str]:
        head = (f"landed batch {self.batch_id}" if self.rows_new or any(
            t.files_new for t in self.tables.values()) else "no new files")
        out = [f"{head} from {self.raw_dir} in {self.seconds:.1f}s"]
        for t in self.tables.values():
            msg = (
                f"  {t.table:<15} {t.files_new:>4} new of {t.files_total:>4} files, "
                f"{t.rows_new:>12,} new rows ({t.rows_total:,} in all)"
            )
            if t.extra_columns:
                cols = sorted({c for cs in t.extra_columns.values() for c in cs})
                msg += f"; extra columns ignored: {', '.join(cols)}"
            if t.ignored_files:
                msg += f"; ignored non-data files: {len(t.ignored_files)}"
            out.append(msg)
        return out


def _sql_str(value: str | Path) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _reader(path: Path, kind: str) -> str:
    if kind == "csv":
        return (
            f"read_csv({_sql_str(path)}, all_varchar = true, header = true, delim = ',', "
            "quote = '\"', escape = '\"', auto_detect = true, strict_mode = true, "
            "null_padding = false)"
        )
    return f"read_parquet({_sql_str(path)})"


def _file_columns(con: duckdb.DuckDBPyConnection, table: str, path: Path, kind: str) -> list[str]:
    if path.stat().st_size == 0:
        raise LandingError(f"{table}: file {path.name} is empty (0 bytes), not valid {kind}")
    try:
        rows = con.execute(f"describe select * from {_reader(path, kind)}").fetchall()
    except duckdb.Error as exc:
        first = str(exc).strip().splitlines()[0]
        raise LandingError(
            f"{table}: file {path.name} is not valid {kind.upper()}: {first}"
        ) from exc
    return [r[0] for r in rows]


def _load_manifest(landing_dir: Path) -> dict:
    path = landing_dir / MANIFEST
    if path.exists():
        return json.loads(path.read_text(encoding="utf-8"))
    return {"batches": 0, "files": {}}


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def land(
    raw_dir: Path | str,
    landing_dir: Path | str,
    *,
    memory_limit: str = "4GB",
    progress: bool = True,
) -> LandingReport:
    """Land every raw file not landed before. Raises LandingError on a contract breach."""
    raw_dir, landing_dir = Path(raw_dir).resolve(), Path(landing_dir).resolve()
    if not raw_dir.is_dir():
        raise LandingError(f"raw directory {raw_dir} does not exist")
    start = time.perf_counter()
    landing_dir.mkdir(parents=True, exist_ok=True)
    manifest = _load_manifest(landing_dir)
    batch_id = manifest["batches"] + 1
    # A run killed after writing some tables' batch files but before the manifest: drop
    # those files, or the next run would land the same raw rows twice.
    for stale in landing_dir.glob(f"*/batch_{batch_id:05d}.parquet"):
        stale.unlink()
    landed_at = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
    con = duckdb.connect(config={"memory_limit": memory_limit, "threads": 2})
    tables: dict[str, TableLanding] = {}
    # (path, path under raw_dir, csv|parquet, {contract column: header as delivered})
    plans: list[tuple[str, list[tuple[Path, str, str, dict[str, str]]]]] = []

    # Pass 1: check every new file before writing anything, so a bad delivery lands nothing.
    for table, columns in raw_tables().items():
        folder = raw_dir / table
        if not folder.is_dir():
            raise LandingError(f"{table}: table folder {folder} is missing from the extract")
        report = TableLanding(table)
        tables[table] = report
        new: list[tuple[Path, str, str, dict[str, str]]] = []
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            rel = path.relative_to(raw_dir).as_posix()
            kind = SUFFIXES.get(path.suffix.lower())
            if kind is None:
                report.ignored_files.append(rel)
                continue
            report.files_total += 1
            known = manifest["files"].get(rel)
            if known is not None:
                if known["size"] != path.stat().st_size:
                    raise LandingError(
                        f"{table}: file {rel} was landed before and has since been rewritten "
                        f"({known['size']} -> {path.stat().st_size} bytes); the contract says "
                        "delivered files are never rewritten. Deliver corrections as a new file, "
                        "or rebuild with --full-refresh."
                    )
                report.rows_total += known["rows"]
                continue
            # Header names may carry stray case or spaces: map them back to the contract.
            actual = {c.strip().lower(): c for c in _file_columns(con, table, path, kind)}
            present = list(actual)
            missing = [c for c in columns if c not in present]
            if missing:
                raise LandingError(
                    f"{table}: file {rel} lacks required column(s) {', '.join(missing)}"
                )
            extra = [c for c in present if c not in columns]
            if extra:
                report.extra_columns[rel] = extra
            new.append((path, rel, kind, actual))
        plans.append((table, new))

    # Pass 2: one Parquet file per table per batch, every contract column as text.
    for table, new in plans:
        report = tables[table]
        columns = raw_tables()[table]
        out_dir = landing_dir / table
        out_dir.mkdir(exist_ok=True)
        if not new:
            if not any(out_dir.glob("*.parquet")):
                # An empty table folder still yields a readable (zero-row) relation.
                cols = ", ".join(f"cast(null as varchar) as {c}" for c in columns)
                con.execute(
                    f"copy (select {cols}, cast(null as varchar) as _source_file, "
                    "cast(null as bigint) as _row_in_file, cast(null as integer) as _batch_id, "
                    "cast(null as varchar) as _landed_at limit 0) "
                    f"to {_sql_str(out_dir / 'batch_00000_empty.parquet')} (format parquet)"
                )
            continue
        selects = []
        for path, rel, kind, actual in new:
            cols = ", ".join(
                f'cast("{actual[c]}" as varchar) as {c}' for c in columns
            )
            # Parquet numbers its rows itself, in parallel; a CSV scan in file order (the
            # window is single-threaded and blocking, but delivered CSVs are the daily files)
            if kind == "parquet":
                row_in_file = "file_row_number + 1"
                reader = f"read_parquet({_sql_str(path)}, file_row_number = true)"
            else:
                row_in_file = "row_number() over ()"
                reader = _reader(path, kind)
            selects.append(
                f"select {cols}, {_sql_str(rel)} as _source_file, "
                f"{row_in_file} as _row_in_file, "
                f"{batch_id} as _batch_id, {_sql_str(landed_at)} as _landed_at "
                f"from {reader}"
            )
        target = out_dir / f"batch_{batch_id:05d}.parquet"
        tmp = out_dir / f".batch_{batch_id:05d}.parquet.tmp"
        try:
            con.execute(
                f"copy ({' union all '.join(selects)}) to {_sql_str(tmp)} "
                "(format parquet, compression zstd, row_group_size 250000)"
            )
        except duckdb.Error as exc:
            tmp.unlink(missing_ok=True)
            first = str(exc).strip().splitlines()[0]
            raise LandingError(f"{table}: could not read a new file: {first}") from exc
        counts = dict(
            con.execute(
                f"select _source_file, count(*) from read_parquet({_sql_str(tmp)}) group by 1"
            ).fetchall()
        )
        os.replace(tmp, target)
        for path, rel, _kind, _actual in new:
            rows = int(counts.get(rel, 0))
            manifest["files"][rel] = {
                "size": path.stat().st_size,
                "rows": rows,
                "batch_id": batch_id,
            }
            report.files_new += 1
            report.rows_new += rows
            report.rows_total += rows
        if progress:
            print(f"  landed {table}: {report.files_new} files, {report.rows_new:,} rows",
                  flush=True)

    if any(t.files_new for t in tables.values()):
        manifest["batches"] = batch_id
    _write_atomic(landing_dir / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True))
    con.close()
    return LandingReport(raw_dir, landing_dir, batch_id, time.perf_counter() - start, tables)
