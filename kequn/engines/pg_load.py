"""Postgres' load step: stream each delivered file into `raw.<table>` with COPY.

Postgres cannot read files in place (DuckDB and Spark can), so the extract is loaded once:
every contract column as text, plus lineage `_source_file` (path under the raw dir),
`_row_in_file` (1-based data row), `_batch_id` (the load run that first saw the file) and
`_landed_at` (name and phone, which no model reads, are checked present but never loaded).
CSV (`.csv`, `.csv.gz`; UTF-8 or GB18030 as kequn.delivery detects) and
Parquet are read in Arrow batches and COPYed as CSV, so memory stays one batch whatever the
file's size. Extra columns are ignored; a missing contract column refuses the file, naming
table, file and column. `raw._files` records each file loaded (path, size, fingerprint,
rows, batch). One load is one transaction: a refused or killed load leaves `raw` as it was,
a nightly load reads only new files, and a delivered file rewritten in place is refused.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from kequn.contract import raw_tables
from kequn.delivery import BadDelivery, file_format, inspect, why_not_read
from kequn.engines.postgres import connect

RAW_SCHEMA = "raw"
# Contract PII no model reads (base_brokerage__clients never reads name or phone): checked
# present in each file, never loaded (the columns stay, null), so no copy of them exists.
NEVER_LOADED = ("name", "phone")
BATCH_ROWS = 64_000
LINEAGE = (
    ("_source_file", "text"),
    ("_row_in_file", "bigint"),
    ("_batch_id", "bigint"),
    ("_landed_at", "timestamptz"),
)


class LoadError(RuntimeError):
    """A delivered file the contract refuses: the message names table, file and column."""


@dataclass
class LoadReport:
    batch_id: int
    files_loaded: dict[str, list[str]] = field(default_factory=dict)  # table -> files
    rows_loaded: dict[str, int] = field(default_factory=dict)
    not_read: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def ensure_raw(cur: Any, tables: dict[str, tuple[str, ...]]) -> None:
    """Create `raw`, its manifest and one text table per contract table when absent; add a
    contract column a table lacks (the contract gained one) as text."""
    cur.execute(f"create schema if not exists {RAW_SCHEMA}")
    cur.execute(f"""create table if not exists {RAW_SCHEMA}._files (
        source_file text primary key, table_name text not null, size_bytes bigint not null,
        fingerprint text not null, rows_loaded bigint not null, batch_id bigint not null,
        loaded_at timestamptz not null)""")
    for table, columns in tables.items():
        cols = [f"{_q(c)} text" for c in columns] + [f"{_q(c)} {t}" for c, t in LINEAGE]
        cur.execute(f"create table if not exists {RAW_SCHEMA}.{_q(table)} ({', '.join(cols)})")
        for c in columns:
            cur.execute(
                f"alter table {RAW_SCHEMA}.{_q(table)} add column if not exists {_q(c)} text"
            )


def _column_map(
    table: str, rel: str, header: tuple[str, ...], columns: tuple[str, ...]
) -> dict[str, str]:
    """contract column -> the header's name for it (matched trimmed and lower-cased)."""
    by_key = {h.strip().lower(): h for h in header}
    missing = [c for c in columns if c not in by_key]
    if missing:
        raise LoadError(
            f"{table}: file {rel} lacks contract column {missing[0]}"
            + (f" (and {', '.join(missing[1:])})" if missing[1:] else "")
            + "; every contract column must be present (values may be blank)"
        )
    return {c: by_key[c] for c in columns}


def _batches(
    path: Path, fmt: str, encoding: str | None, names: list[str]
) -> Iterator[pa.RecordBatch]:
    if fmt == "parquet":
        yield from pq.ParquetFile(path).iter_batches(batch_size=BATCH_ROWS, columns=names)
        return
    reader = pacsv.open_csv(
        path,  # pyarrow decompresses .gz from the name
        read_options=pacsv.ReadOptions(encoding=encoding or "utf-8", block_size=1 << 22),
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            include_columns=names,
            column_types={n: pa.string() for n in names},
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )
    yield from reader


def _copy_file(
    cur: Any,
    table: str,
    columns: tuple[str, ...],
    path: Path,
    rel: str,
    fmt: str,
    encoding: str | None,
    mapping: dict[str, str],
    batch_id: int,
    landed_at: str,
) -> int:
    target = ", ".join(_q(c) for c in (*columns, *(c for c, _ in LINEAGE)))
    sql = f"copy {RAW_SCHEMA}.{_q(table)} ({target}) from stdin with (format csv, header true)"
    rows = 0
    names = [mapping[c] for c in columns if c not in NEVER_LOADED]
    for batch in _batches(path, fmt, encoding, names):
        n = batch.num_rows
        arrays = [
            pa.nulls(n, pa.string()) if c in NEVER_LOADED
            else batch.column(batch.schema.get_field_index(mapping[c])).cast(pa.string())
            for c in columns
        ]
        arrays += [
            pa.array([rel] * n, pa.string()),
            pa.array(range(rows + 1, rows + n + 1), pa.int64()),
            pa.array([batch_id] * n, pa.int64()),
            pa.array([landed_at] * n, pa.string()),
        ]
        buf = io.BytesIO()
        pacsv.write_csv(
            pa.RecordBatch.from_arrays(arrays, names=[*columns, *(c for c, _ in LINEAGE)]),
            buf,
            pacsv.WriteOptions(quoting_style="needed"),
        )
        buf.seek(0)
        cur.copy_expert(sql, buf)
        rows += n
    return rows


def load(raw_dir: Path | str, env: dict[str, str] | None = None) -> LoadReport:
    """Load every file of `raw_dir` not loaded yet into `raw.*`; refuse a rewritten one."""
    raw_dir = Path(raw_dir)
    if not raw_dir.is_dir():
        raise LoadError(f"raw directory {raw_dir} does not exist")
    tables = raw_tables()
    landed_at = datetime.now(UTC).isoformat()
    con = connect(env)
    try:
        with con, con.cursor() as cur:
            cur.execute("select pg_advisory_xact_lock(hashtext('kequn.raw.load'))")
            ensure_raw(cur, tables)
            cur.execute(f"select coalesce(max(batch_id), 0) + 1 from {RAW_SCHEMA}._files")
            batch_id = cur.fetchone()[0]
            cur.execute(f"select source_file, size_bytes, fingerprint from {RAW_SCHEMA}._files")
            known = {r[0]: (r[1], r[2]) for r in cur.fetchall()}
            report = LoadReport(batch_id)
            for table, columns in tables.items():
                folder = raw_dir / table
                files = (
                    sorted(p for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []
                )
                for path in files:
                    rel = path.relative_to(raw_dir).as_posix()
                    fmt = file_format(path)
                    if fmt is None:
                        report.not_read.append((rel, why_not_read(path)))
                        continue
                    try:
                        seen = inspect(path, fmt)
                    except BadDelivery as exc:
                        raise LoadError(f"{table}: file {rel} {exc}") from exc
                    if rel in known:
                        if known[rel] != (path.stat().st_size, seen.fingerprint):
                            raise LoadError(
                                f"{table}: file {rel} was rewritten after it was loaded "
                                f"(delivered files are never rewritten; deliver a new file)"
                            )
                        continue
                    mapping = _column_map(table, rel, seen.columns, columns)
                    try:
                        rows = _copy_file(
                            cur,
                            table,
                            columns,
                            path,
                            rel,
                            fmt,
                            seen.encoding,
                            mapping,
                            batch_id,
                            landed_at,
                        )
                    except pa.ArrowInvalid as exc:
                        raise LoadError(
                            f"{table}: file {rel} is not valid {fmt.upper()}: {exc}"
                        ) from exc
                    cur.execute(
                        f"insert into {RAW_SCHEMA}._files values (%s, %s, %s, %s, %s, %s, %s)",
                        (
                            rel,
                            table,
                            path.stat().st_size,
                            seen.fingerprint,
                            rows,
                            batch_id,
                            landed_at,
                        ),
                    )
                    report.files_loaded.setdefault(table, []).append(rel)
                    report.rows_loaded[table] = report.rows_loaded.get(table, 0) + rows
        return report
    finally:
        con.close()
