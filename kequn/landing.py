"""Landing: copy each delivered raw file once into text-only Parquet beside the warehouse.

The raw directory is an external system's format (see the contract); landing is the one
place that touches it. Each table folder's CSV (`.csv`, `.csv.gz`; UTF-8, or GB18030/GBK
as Chinese source systems export) and Parquet files are read with every column as text,
checked for the contract's columns (a missing one fails, naming the table, file and
column), and appended to `<landing>/<table>/batch_<n>.parquet` with lineage columns. Every
other file in a table folder is named with the reason it is not read. A manifest records
each file read (path, size, content fingerprint, format, encoding, rows, batch), so a
nightly run lands only the new day's files and a delivered file rewritten in place is
refused. Nothing here interprets values: cleaning is staging's job.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from kequn.contract import raw_tables
from kequn.delivery import (
    BadDelivery,
    Inspected,
    file_format,
    fingerprint,
    inspect,
    why_not_read,
)
from kequn.sql import sql_str as _sql_str

MANIFEST = "_manifest.json"
SHOWN_PER_TABLE = 20   # files not read, listed on the console per table (all in the report)


class LandingError(RuntimeError):
    """A delivery that breaks the contract: the message names table, file and column."""


class RawDirError(LandingError):
    """The raw directory given is not there at all (a mistyped path, not a contract breach)."""


@dataclass
class TableLanding:
    table: str
    files_total: int = 0
    files_new: int = 0
    rows_new: int = 0
    rows_total: int = 0
    extra_columns: dict[str, list[str]] = field(default_factory=dict)
    ignored_files: list[tuple[str, str]] = field(default_factory=list)   # (file, reason)
    encodings: dict[str, str] = field(default_factory=dict)   # new files not in UTF-8


@dataclass
class LandingReport:
    raw_dir: Path
    landing_dir: Path
    batch_id: int
    seconds: float
    tables: dict[str, TableLanding]
    outside: list[tuple[str, str]] = field(default_factory=list)   # raw dir entries not read

    @property
    def rows_new(self) -> int:
        return sum(t.rows_new for t in self.tables.values())

    def not_read(self) -> list[tuple[str, str]]:
        """Every file or folder of the extract that was not read, with the reason."""
        return [*self.outside, *(f for t in self.tables.values() for f in t.ignored_files)]

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
            out.append(msg)
            for rel, encoding in sorted(t.encodings.items()):
                out.append(f"      read as {encoding.upper()} (not UTF-8): {rel}")
            for rel, reason in t.ignored_files[:SHOWN_PER_TABLE]:
                out.append(f"      not read: {rel} ({reason})")
            if len(t.ignored_files) > SHOWN_PER_TABLE:
                out.append(f"      not read: {len(t.ignored_files) - SHOWN_PER_TABLE} more "
                           "file(s), all listed in the build's report.html")
        for name, reason in self.outside:
            out.append(f"  not read: {name} ({reason})")
        return out


@dataclass
class _NewFile:
    path: Path
    rel: str
    fmt: str                 # csv | csv.gz | parquet
    info: Inspected
    actual: dict[str, str]   # {contract-style name (trimmed, lower case): header as delivered}


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def check_extract(raw_dir: Path | str) -> Path:
    """The extract directory, checked before a build writes anything: it must exist and hold
    every table folder of the contract (all the missing ones are named at once)."""
    raw = Path(raw_dir).expanduser()
    if not raw.exists():
        raise RawDirError(f"the raw directory {raw} does not exist (check --raw-dir)")
    if not raw.is_dir():
        raise RawDirError(f"the raw directory {raw} is a file, not a folder (check --raw-dir)")
    tables = list(raw_tables())
    missing = [t for t in tables if not (raw / t).is_dir()]
    if len(missing) == len(tables):
        raise LandingError(
            f"{raw.resolve()} holds none of the contract's {len(tables)} table folders "
            f"(missing: {', '.join(missing)}); is it the extract directory?")
    if missing:
        raise LandingError(
            f"{len(missing)} of the contract's {len(tables)} table folders are missing from "
            f"{raw.resolve()}: {', '.join(missing)}")
    return raw.resolve()


def _load_manifest(landing_dir: Path) -> dict:
    path = landing_dir / MANIFEST
    if path.exists():
        return json.loads(path.read_text(encoding="utf-8"))
    return {"batches": 0, "files": {}}


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _check_unchanged(table: str, rel: str, path: Path, known: dict[str, Any]) -> None:
    """A file landed before must be as it was. The size is compared always; the content
    fingerprint whenever the file's modification time is not the one recorded (an edit in
    place changes it), so an unchanged extract is not re-read every night. Updates `known`
    with the fingerprint and time of a file that was merely copied or touched."""
    st = path.stat()
    advice = ("the contract says delivered files are never rewritten. Deliver corrections "
              "as a new file, or rebuild with --full-refresh.")
    if known["size"] != st.st_size:
        raise LandingError(
            f"{table}: file {rel} was landed in batch {known.get('batch_id')} and has since been "
            f"rewritten ({known['size']} -> {st.st_size} bytes); {advice}")
    if known.get("fingerprint") and known.get("mtime_ns") == st.st_mtime_ns:
        return
    now = fingerprint(path)
    if known.get("fingerprint") not in (None, now):
        raise LandingError(
            f"{table}: file {rel} was landed in batch {known.get('batch_id')} and has since been "
            f"rewritten in place: same size ({st.st_size} bytes) but different content "
            f"({known['fingerprint'][:19]}… -> {now[:19]}…); {advice}")
    known.update(fingerprint=now, mtime_ns=st.st_mtime_ns)


def _plan_table(table: str, columns: tuple[str, ...], folder: Path, raw_dir: Path,
                manifest: dict, report: TableLanding) -> list[_NewFile]:
    """Check every file of one table folder; return the new ones to land."""
    new: list[_NewFile] = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(raw_dir).as_posix()
        fmt = file_format(path)
        if fmt is None:
            report.ignored_files.append((rel, why_not_read(path)))
            continue
        report.files_total += 1
        known = manifest["files"].get(rel)
        if known is not None:
            _check_unchanged(table, rel, path, known)
            report.rows_total += known["rows"]
            continue
        try:
            info = inspect(path, fmt)
        except BadDelivery as exc:
            raise LandingError(f"{table}: file {rel} {exc}") from exc
        # Header names may carry stray case or spaces: map them back to the contract.
        actual = {c.strip().lower(): c for c in info.columns}
        missing = [c for c in columns if c not in actual]
        if missing:
            raise LandingError(
                f"{table}: file {rel} lacks required column(s) {', '.join(missing)}")
        extra = [c for c in actual if c not in columns]
        if extra:
            report.extra_columns[rel] = extra
        if info.encoding not in (None, "utf-8"):
            report.encodings[rel] = info.encoding
        new.append(_NewFile(path, rel, fmt, info, actual))
    return new


def _csv_reader(f: _NewFile) -> str:
    """DuckDB's CSV reader with the header we parsed: no sniffing, so a ragged row is
    reported with its line number, and every column is text."""
    cols = ", ".join(f"{_sql_str(c)}: 'VARCHAR'" for c in f.actual)
    return (f"read_csv({_sql_str(f.path)}, columns = {{{cols}}}, header = true, delim = ',', "
            "quote = '\"', escape = '\"', auto_detect = false, strict_mode = true, "
            "null_padding = false)")


def _arrow_csv(table: str, f: _NewFile) -> Any:
    """A CSV in an encoding DuckDB cannot read (GB18030/GBK), read by pyarrow as text, with
    a 1-based `_row` column. Held in memory: such files are one day's delivery."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    names = list(f.actual)
    bad: list[Any] = []

    def invalid_row(row: Any) -> str:
        bad.append(row)
        return "error"

    try:
        tbl = pacsv.read_csv(
            f.path,
            read_options=pacsv.ReadOptions(encoding=f.info.encoding, column_names=names,
                                           skip_rows=1, use_threads=False),
            parse_options=pacsv.ParseOptions(delimiter=",", quote_char='"', double_quote=True,
                                             newlines_in_values=True,
                                             invalid_row_handler=invalid_row),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names}, strings_can_be_null=True,
                null_values=[""]))
    except (pa.ArrowException, UnicodeDecodeError) as exc:
        if bad:
            row = bad[0]
            raise LandingError(
                f"{table}: file {f.rel} line {row.number}: has {row.actual_columns} fields where "
                f"its header has {row.expected_columns}: {row.text[:200]!r}") from exc
        raise LandingError(f"{table}: file {f.rel} could not be read as "
                           f"{f.info.encoding.upper()} CSV: {exc}") from exc
    return tbl.append_column("_row", pa.array(range(1, tbl.num_rows + 1), pa.int64()))


_LINE = re.compile(r"CSV Error on Line: (\d+)")
_ORIGINAL = re.compile(r"^Original Line: ?(.*)$", re.MULTILINE)
_COUNTS = re.compile(r"Expected Number of Columns: (\d+) Found: (\d+)")
_FILE = re.compile(r"^\s*file = (.+)$", re.MULTILINE)


def _read_error(table: str, exc: duckdb.Error, new: list[_NewFile]) -> LandingError:
    """DuckDB's error for a batch, told as the file, the line and what is wrong with it."""
    text = str(exc)
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    named = _FILE.search(text)
    culprit = next((f for f in new if named and named.group(1).strip() == str(f.path)), None)
    if culprit is None:
        culprit = next((f for f in new if str(f.path) in text), None)
    where = f"file {culprit.rel}" if culprit else "a new file"
    line = _LINE.search(text)
    if line is None:
        return LandingError(f"{table}: {where} could not be read: {first}")
    original = _ORIGINAL.search(text)
    shown = f": {original.group(1)[:200]!r}" if original else ""
    counts = _COUNTS.search(text)
    if counts:
        what = f"has {counts.group(2)} fields where its header has {counts.group(1)}"
    else:
        after = text[original.end():] if original else text[line.end():]
        what = next((s.strip() for s in after.splitlines() if s.strip()), "is not valid CSV")
    return LandingError(f"{table}: {where} line {line.group(1)}: {what}{shown}")


def _land_table(con: duckdb.DuckDBPyConnection, table: str, columns: tuple[str, ...],
                new: list[_NewFile], out_dir: Path, batch_id: int, landed_at: str
                ) -> dict[str, int]:
    """Write one table's new files as `batch_<n>.parquet`; return rows per file."""
    selects = []
    for i, f in enumerate(new):
        cols = ", ".join(f"cast({_ident(f.actual[c])} as varchar) as {c}" for c in columns)
        if f.fmt == "parquet":
            # Parquet numbers its rows itself, in parallel
            row_in_file = "file_row_number + 1"
            reader = f"read_parquet({_sql_str(f.path)}, file_row_number = true)"
        elif f.info.encoding == "utf-8":
            # a CSV scan in file order (the window is single-threaded and blocking, but
            # delivered CSVs are the daily files)
            cols = ", ".join(f"{_ident(c)} as {c}" for c in columns)
            row_in_file = "row_number() over ()"
            reader = _csv_reader(f)
        else:
            view = f"_arrow_{i}"
            con.register(view, _arrow_csv(table, f))
            cols = ", ".join(f"{_ident(c)} as {c}" for c in columns)
            row_in_file, reader = "_row", view
        selects.append(
            f"select {cols}, {_sql_str(f.rel)} as _source_file, "
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
        raise _read_error(table, exc, new) from exc
    finally:
        for i, f in enumerate(new):
            if f.fmt != "parquet" and f.info.encoding != "utf-8":
                con.unregister(f"_arrow_{i}")
    counts = dict(
        con.execute(
            f"select _source_file, count(*) from read_parquet({_sql_str(tmp)}) group by 1"
        ).fetchall()
    )
    os.replace(tmp, target)
    return {f.rel: int(counts.get(f.rel, 0)) for f in new}


def _write_empty(con: duckdb.DuckDBPyConnection, columns: tuple[str, ...], out_dir: Path
                 ) -> None:
    """An empty table folder still yields a readable (zero-row) relation."""
    cols = ", ".join(f"cast(null as varchar) as {c}" for c in columns)
    con.execute(
        f"copy (select {cols}, cast(null as varchar) as _source_file, "
        "cast(null as bigint) as _row_in_file, cast(null as integer) as _batch_id, "
        "cast(null as varchar) as _landed_at limit 0) "
        f"to {_sql_str(out_dir / 'batch_00000_empty.parquet')} (format parquet)"
    )


def land(
    raw_dir: Path | str,
    landing_dir: Path | str,
    *,
    memory_limit: str = "4GB",
    progress: bool = True,
) -> LandingReport:
    """Land every raw file not landed before. Raises LandingError on a contract breach."""
    raw_dir, landing_dir = check_extract(raw_dir), Path(landing_dir).resolve()
    start = time.perf_counter()
    landing_dir.mkdir(parents=True, exist_ok=True)
    manifest = _load_manifest(landing_dir)
    batch_id = manifest["batches"] + 1
    # A run killed after writing some tables' batch files but before the manifest: drop
    # those files, or the next run would land the same raw rows twice.
    for stale in landing_dir.glob(f"*/batch_{batch_id:05d}.parquet"):
        stale.unlink()
    landed_at = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
    contract = raw_tables()
    tables = {table: TableLanding(table) for table in contract}
    outside = sorted(
        (p.name + ("/" if p.is_dir() else ""),
         "a folder the contract does not name" if p.is_dir() else "not in a table folder")
        for p in raw_dir.iterdir() if p.name not in contract)

    # Pass 1: check every new file before writing anything, so a bad delivery lands nothing.
    plans = {table: _plan_table(table, columns, raw_dir / table, raw_dir, manifest,
                                tables[table])
             for table, columns in contract.items()}

    # Pass 2: one Parquet file per table per batch, every contract column as text.
    con = duckdb.connect(config={"memory_limit": memory_limit, "threads": 2})
    try:
        for table, new in plans.items():
            report = tables[table]
            out_dir = landing_dir / table
            out_dir.mkdir(exist_ok=True)
            if not new:
                if not any(out_dir.glob("*.parquet")):
                    _write_empty(con, contract[table], out_dir)
                continue
            rows = _land_table(con, table, contract[table], new, out_dir, batch_id, landed_at)
            for f in new:
                st = f.path.stat()
                manifest["files"][f.rel] = {
                    "size": st.st_size, "mtime_ns": st.st_mtime_ns,
                    "fingerprint": f.info.fingerprint, "format": f.fmt,
                    "encoding": f.info.encoding, "rows": rows[f.rel], "batch_id": batch_id,
                }
                report.files_new += 1
                report.rows_new += rows[f.rel]
                report.rows_total += rows[f.rel]
            if progress:
                print(f"  landed {table}: {report.files_new} files, {report.rows_new:,} rows",
                      flush=True)
    finally:
        con.close()

    if any(t.files_new for t in tables.values()):
        manifest["batches"] = batch_id
    _write_atomic(landing_dir / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True))
    return LandingReport(raw_dir, landing_dir, batch_id, time.perf_counter() - start, tables,
                         outside)
