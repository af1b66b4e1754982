"""Landing: a manifest step. No row of the extract is copied.

The raw directory is an external system's format (see the contract); landing looks at each
delivered file before any of its rows is read: which files of a table folder are data
(`.csv`, `.csv.gz`, `.parquet`; every other file is named with the reason it is not read),
whether a file delivered before is unchanged (size, content fingerprint: a rewrite is
refused), and for a new file its header (a missing contract column or a repeated one is
refused, naming table, file and column) and, for CSV, its encoding and any NUL byte, all in
the one pass that fingerprints it (kequn/delivery.py).

It then allocates the batch id of the new files (never reused, even by a build that fails
or is killed: every allocation is recorded first, see `allocate_batch`) and writes two files
into the landing folder:

- `_delivered.jsonl`: for every file of the manifest, one line with its table, batch and the
  DuckDB SQL that reads it in place (contract columns as text plus lineage `_source_file`,
  `_row_in_file`, `_batch_id`, `_landed_at`). The base models read it through the macro
  `kequn.delivered_rows` (macros/delivery/), and the raw gate through `delivered_relation`.
- `_manifest.json`: every file read (path, size, fingerprint, format, encoding, header,
  batch; rows once the base models have read them, `record_rows`). The build's copy is
  committed by publishing (kequn/publish.py), so a failed build commits nothing.

A CSV in GB18030/GBK (which DuckDB 2.0.1 cannot read) is transcoded to UTF-8 into a folder
of the build that the build removes when it ends (see DECISIONS.md, "Landing without a
copy"): the only copy of delivered values the project makes, for the length of a build.
"""

from __future__ import annotations

import codecs
import json
import os
import re
import shutil
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from kequn.contract import raw_tables
from kequn.delivery import (
    CHUNK,
    BadDelivery,
    Inspected,
    file_format,
    fingerprint,
    header,
    inspect,
    parquet_rows,
    why_not_read,
)
from kequn.sql import sql_str as _sql_str

MANIFEST = "_manifest.json"
DELIVERED = "_delivered.jsonl"      # read by macros/delivery/delivered_rows.sql
ATTEMPTS = "batch_attempts.jsonl"   # every batch id ever allocated (state folder)
PII_TABLES = ("clients",)   # raw tables whose rows hold PII (see kequn/pii_proof.py)
SHOWN_PER_TABLE = 20   # files not read, listed on the console per table (all in the report)
CSV_OPTIONS = ("header = true, delim = ',', quote = '\"', escape = '\"', "
               "auto_detect = false, strict_mode = true, null_padding = false")


class LandingError(RuntimeError):
    """A delivery that breaks the contract: the message names table, file and column."""


class RawDirError(LandingError):
    """The raw directory given is not there at all (a mistyped path, not a contract breach)."""


@dataclass
class TableLanding:
    table: str
    files_total: int = 0
    files_new: int = 0
    rows_new: int = 0      # known once the base models have read the batch (record_rows)
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
    transcoded: Path | None = None   # the build's UTF-8 transcodes of GB18030 files, if any

    @property
    def rows_new(self) -> int:
        return sum(t.rows_new for t in self.tables.values())

    @property
    def files_new(self) -> int:
        return sum(t.files_new for t in self.tables.values())

    def not_read(self) -> list[tuple[str, str]]:
        """Every file or folder of the extract that was not read, with the reason."""
        return [*self.outside, *(f for t in self.tables.values() for f in t.ignored_files)]

    def lines(self) -> list[str]:
        head = f"batch {self.batch_id}" if self.files_new else "no new files"
        out = [f"{head} from {self.raw_dir} in {self.seconds:.1f}s (manifest, no copy)"]
        for t in self.tables.values():
            msg = f"  {t.table:<15} {t.files_new:>4} new of {t.files_total:>4} files"
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


def load_manifest(landing_dir: Path) -> dict:
    path = Path(landing_dir) / MANIFEST
    if path.exists():
        return json.loads(path.read_text(encoding="utf-8"))
    return {"batches": 0, "files": {}}


def _write_atomic(path: Path, text: str) -> None:
    """Write a new file and rename it over `path` (a new inode: never writes through a hard
    link of the published landing folder)."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def allocate_batch(attempts: Path, committed: int, raw_dir: Path) -> int:
    """The next batch id: above every batch committed and every id allocated before (by a
    build that failed or was killed too), recorded (fsync) before any file is read."""
    used = committed
    if attempts.exists():
        for line in attempts.read_text(encoding="utf-8").splitlines():
            with_id = json.loads(line) if line.strip() else {}
            used = max(used, int(with_id.get("batch_id", 0)))
    batch_id = used + 1
    attempts.parent.mkdir(parents=True, exist_ok=True)
    entry = {"batch_id": batch_id, "pid": os.getpid(), "raw_dir": str(raw_dir),
             "at": datetime.now(UTC).isoformat(timespec="seconds")}
    with open(attempts, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(entry) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    return batch_id


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


def _mapped(table: str, rel: str, names: tuple[str, ...], columns: tuple[str, ...]
            ) -> dict[str, str]:
    """{contract name: header as delivered}; header names may carry stray case or spaces."""
    actual = {c.strip().lower(): c for c in names}
    missing = [c for c in columns if c not in actual]
    if missing:
        raise LandingError(f"{table}: file {rel} lacks required column(s) {', '.join(missing)}")
    return actual


def _plan_table(table: str, columns: tuple[str, ...], folder: Path, raw_dir: Path,
                manifest: dict, report: TableLanding) -> list[_NewFile]:
    """Check every file of one table folder; return the new ones."""
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
            report.rows_total += known.get("rows") or 0
            continue
        try:
            info = inspect(path, fmt)
        except BadDelivery as exc:
            raise LandingError(f"{table}: file {rel} {exc}") from exc
        actual = _mapped(table, rel, info.columns, columns)
        extra = [c for c in actual if c not in columns]
        if extra:
            report.extra_columns[rel] = extra
        if info.encoding not in (None, "utf-8"):
            report.encodings[rel] = info.encoding
        new.append(_NewFile(path, rel, fmt, info, actual))
    return new


def _transcode(table: str, f: _NewFile, out_dir: Path) -> Path:
    """A GB18030/GBK CSV as UTF-8 in the build's transcode folder (DuckDB reads only UTF-8)."""
    from kequn.delivery import open_csv

    target = out_dir / (f.rel.replace("/", "__") + ".utf8.csv")
    out_dir.mkdir(parents=True, exist_ok=True)
    decoder = codecs.getincrementaldecoder(f.info.encoding or "gb18030")()
    try:
        with open_csv(f.path, f.fmt) as src, open(target, "w", encoding="utf-8",
                                                   newline="") as dst:
            while chunk := src.read(CHUNK):
                dst.write(decoder.decode(chunk))
            dst.write(decoder.decode(b"", final=True))
    except UnicodeDecodeError as exc:
        target.unlink(missing_ok=True)
        raise LandingError(f"{table}: file {f.rel} could not be read as "
                           f"{(f.info.encoding or '').upper()} CSV: {exc}") from exc
    return target


def _file_sql(table: str, columns: tuple[str, ...], entry: dict[str, Any], rel: str,
              read_path: Path, landed_at: str) -> str:
    """SQL reading one delivered file in place: every contract column as text, then the
    lineage columns. A CSV is read with the header landing parsed (no sniffing, strict: a
    ragged row fails naming file and line); its rows are numbered in file order by
    `row_number() over ()` over that one file's scan (DuckDB's CSV reader has no
    file_row_number; see DECISIONS.md)."""
    actual = {c.strip().lower(): c for c in entry["columns"]}
    lineage = (f"{_sql_str(rel)} as _source_file, {{row}} as _row_in_file, "
               f"cast({int(entry['batch_id'])} as integer) as _batch_id, "
               f"{_sql_str(entry.get('landed_at') or landed_at)} as _landed_at")
    if entry["format"] == "parquet":
        cols = ", ".join(f"cast({_ident(actual[c])} as varchar) as {c}" for c in columns)
        return (f"select {cols}, {lineage.format(row='file_row_number + 1')} "
                f"from read_parquet({_sql_str(read_path)}, file_row_number = true)")
    header = ", ".join(f"{_sql_str(c)}: 'VARCHAR'" for c in entry["columns"])
    cols = ", ".join(f"{_ident(actual[c])} as {c}" for c in columns)
    return (f"select {cols}, {lineage.format(row='row_number() over ()')} "
            f"from read_csv({_sql_str(read_path)}, columns = {{{header}}}, {CSV_OPTIONS})")


def _legacy_columns(path: Path, entry: dict[str, Any]) -> tuple[str, ...]:
    """The header of a file landed before the manifest kept headers (header only)."""
    return header(path, entry["format"], entry.get("encoding"))


def _delivered_lines(raw_dir: Path, manifest: dict, contract: dict[str, tuple[str, ...]],
                     transcoded: dict[str, Path], landed_at: str) -> list[dict[str, Any]]:
    lines = []
    for rel, entry in sorted(manifest["files"].items()):
        table = rel.split("/", 1)[0]
        if table not in contract:
            continue
        path = raw_dir / rel
        if "columns" not in entry:
            entry["columns"] = list(_legacy_columns(path, entry))
        read = transcoded.get(rel, path)
        not_utf8 = entry.get("encoding") not in (None, "utf-8")
        sql = (None if not_utf8 and rel not in transcoded
               else _file_sql(table, contract[table], entry, rel, read, landed_at))
        lines.append({"table": table, "batch_id": int(entry["batch_id"]), "file": rel,
                      "format": entry["format"], "read_path": str(read), "sql": sql})
    return lines


def land(
    raw_dir: Path | str,
    landing_dir: Path | str,
    *,
    attempts: Path | str | None = None,
    transcode_dir: Path | str | None = None,
    progress: bool = True,
) -> LandingReport:
    """Inspect every raw file; record the new ones in the manifest under a new batch id and
    write the list of files to read (`_delivered.jsonl`). Raises LandingError on a contract
    breach, before anything is written.

    `attempts`: the file recording every batch id allocated (default: beside the landing
    folder; a build passes its warehouse's state folder). `transcode_dir`: where GB18030
    CSVs are transcoded for this build (default `<landing_dir>.transcoded`); the caller
    removes it when its build ends (`remove_transcodes`)."""
    raw_dir, landing_dir = check_extract(raw_dir), Path(landing_dir).resolve()
    start = time.perf_counter()
    landing_dir.mkdir(parents=True, exist_ok=True)
    attempts = Path(attempts) if attempts else landing_dir.parent / ATTEMPTS
    transcode_dir = (Path(transcode_dir) if transcode_dir
                     else landing_dir.with_name(landing_dir.name + ".transcoded"))
    manifest = load_manifest(landing_dir)
    contract = raw_tables()
    tables = {table: TableLanding(table) for table in contract}
    outside = sorted(
        (p.name + ("/" if p.is_dir() else ""),
         "a folder the contract does not name" if p.is_dir() else "not in a table folder")
        for p in raw_dir.iterdir() if p.name not in contract)

    # Every file is checked before anything is written, so a bad delivery records nothing.
    plans = {table: _plan_table(table, columns, raw_dir / table, raw_dir, manifest,
                                tables[table])
             for table, columns in contract.items()}
    new_files = [f for files in plans.values() for f in files]
    landed_at = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
    if new_files:
        batch_id = allocate_batch(attempts, int(manifest.get("batches", 0)), raw_dir)
    else:
        batch_id = int(manifest.get("batches", 0)) + 1   # nothing carries it
    transcoded: dict[str, Path] = {}
    for table, new in plans.items():
        for f in new:
            if f.fmt != "parquet" and f.info.encoding != "utf-8":
                transcoded[f.rel] = _transcode(table, f, transcode_dir)
            st = f.path.stat()
            manifest["files"][f.rel] = {
                "size": st.st_size, "mtime_ns": st.st_mtime_ns,
                "fingerprint": f.info.fingerprint, "format": f.fmt,
                "encoding": f.info.encoding, "columns": list(f.info.columns),
                # Parquet states its rows in its footer; a CSV's are counted by the base
                # model that reads it (record_rows)
                "rows": parquet_rows(f.path) if f.fmt == "parquet" else None,
                "batch_id": batch_id, "landed_at": landed_at,
            }
            tables[table].files_new += 1
    if new_files:
        manifest["batches"] = batch_id
    delivered = _delivered_lines(raw_dir, manifest, contract, transcoded, landed_at)
    # drop what landing wrote before this change: copies of the extract (PII) in the
    # build's landing folder
    for legacy in landing_dir.glob("*/batch_*.parquet"):
        legacy.unlink()
    _write_atomic(landing_dir / DELIVERED,
                  "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in delivered))
    _write_atomic(landing_dir / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True))
    if progress:
        for t in tables.values():
            print(f"  {t.table}: {t.files_new} new files", flush=True)
    return LandingReport(raw_dir, landing_dir, batch_id, time.perf_counter() - start, tables,
                         outside, transcode_dir if transcoded else None)


def remove_transcodes(transcode_dir: Path | str | None) -> None:
    """Remove a build's UTF-8 transcodes (they hold delivered values, PII included)."""
    if transcode_dir is not None:
        shutil.rmtree(transcode_dir, ignore_errors=True)


def delivered_files(landing_dir: Path | str, batch: int | None = None
                    ) -> dict[str, list[dict[str, Any]]]:
    """{table: [{file, batch_id, format, read_path, sql}, ...]} of the landing folder's
    `_delivered.jsonl`: every file of the manifest, or only those of `batch`."""
    path = Path(landing_dir) / DELIVERED
    out: dict[str, list[dict[str, Any]]] = {t: [] for t in raw_tables()}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            d = json.loads(line)
            if d["table"] in out and (batch is None or d["batch_id"] == batch):
                out[d["table"]].append(d)
    return out


def empty_relation(table: str) -> str:
    """SQL: a zero-row relation with the columns a delivered file yields."""
    cols = ", ".join(f"cast(null as varchar) as {c}" for c in raw_tables()[table])
    return (f"select {cols}, cast(null as varchar) as _source_file, "
            "cast(null as bigint) as _row_in_file, cast(null as integer) as _batch_id, "
            "cast(null as varchar) as _landed_at where false")


def delivered_relation(landing_dir: Path | str, table: str, batch: int | None = None) -> str:
    """SQL (a parenthesised subquery) reading a table's delivered files in place: every file
    of the manifest, or those of `batch` — the same SQL the base models run."""
    files = delivered_files(landing_dir, batch)[table]
    unreadable = [f["file"] for f in files if f["sql"] is None]
    if unreadable:
        raise LandingError(f"{table}: file {unreadable[0]} is GB18030 and was not transcoded "
                           "by this build (only new files are); rebuild with --full-refresh")
    parts = [f["sql"] for f in files] or [empty_relation(table)]
    return "(" + "\nunion all\n".join(parts) + ")"


def base_relations(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """{table: qualified name of its base model} in an open warehouse connection."""
    found = dict(con.execute(
        "select table_name, table_schema from information_schema.tables "
        "where table_name like 'base\\_brokerage\\_\\_%' escape '\\'").fetchall())
    return {t: f'"{found[f"base_brokerage__{t}"]}"."base_brokerage__{t}"'
            for t in raw_tables() if f"base_brokerage__{t}" in found}


def record_rows(report: LandingReport, db: Path) -> dict[str, int]:
    """Fill the manifest's rows of the new batch from what the base models read (after dbt,
    before publishing); a Parquet file whose base rows differ from its footer's count is
    refused. Updates the report's row counts; returns {table: rows in all}."""
    manifest = load_manifest(report.landing_dir)
    new = {rel: e for rel, e in manifest["files"].items() if e["batch_id"] == report.batch_id}
    con = duckdb.connect(str(db), read_only=True)
    try:
        bases = base_relations(con)
        counts: dict[str, int] = {}
        for table in {rel.split("/", 1)[0] for rel in new}:
            if table not in bases:
                raise LandingError(f"{table}: its base model is missing from {db}")
            counts.update(con.execute(
                f"select _source_file, count(*) from {bases[table]} "
                f"where _batch_id = {int(report.batch_id)} group by 1").fetchall())
    finally:
        con.close()
    for rel, entry in new.items():
        read = int(counts.get(rel, 0))
        if entry["format"] == "parquet" and entry["rows"] is not None and entry["rows"] != read:
            raise LandingError(f"{rel.split('/', 1)[0]}: file {rel} holds {entry['rows']} rows "
                               f"(its footer) but its base model read {read}")
        entry["rows"] = read
    for name, t in report.tables.items():
        t.rows_new = sum(e["rows"] for rel, e in new.items() if rel.startswith(name + "/"))
        t.rows_total = sum(e.get("rows") or 0 for rel, e in manifest["files"].items()
                           if rel.startswith(name + "/"))
    _write_atomic(report.landing_dir / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True))
    return {name: t.rows_total for name, t in report.tables.items()}


_LINE = re.compile(r"CSV Error on Line: (\d+)")
_ORIGINAL = re.compile(r"^\s*Original Line: ?(.*)$", re.MULTILINE)
_COUNTS = re.compile(r"Expected Number of Columns: (\d+) Found: (\d+)")
_FILE = re.compile(r"^\s*file = (.+)$", re.MULTILINE)


def read_error(text: str, landing_dir: Path | str) -> str | None:
    """DuckDB's error reading a delivered file (in a dbt or gate run), told as the table,
    file, line and what is wrong with it; None when the error is not about a delivered file."""
    by_path = {f["read_path"]: f for files in delivered_files(landing_dir).values()
               for f in files}
    named = _FILE.search(text)
    culprit = by_path.get(named.group(1).strip()) if named else None
    if culprit is None:
        culprit = next((f for p, f in by_path.items() if p in text), None)
    if culprit is None:
        return None
    where = f"{culprit['table']}: file {culprit['file']}"
    line = _LINE.search(text)
    if line is None:
        first = next((s.strip() for s in text.splitlines() if "Error" in s), text.strip()[:200])
        return f"{where} could not be read: {first}"
    original = _ORIGINAL.search(text)
    # the line itself helps find the fault, but a clients line holds PII (name, ID, phone):
    # never shown, so it reaches no console, report or gate history
    shown = (f": {original.group(1)[:200]!r}" if original and culprit["table"] not in PII_TABLES
             else "")
    counts = _COUNTS.search(text)
    if counts:
        what = f"has {counts.group(2)} fields where its header has {counts.group(1)}"
    elif "not utf-8" in text.lower() or "invalid unicode" in text.lower():
        what = "is not UTF-8 (looks like GBK/GB18030 or another legacy encoding)"
    else:
        after = text[original.end():] if original else text[line.end():]
        what = next((s.strip() for s in after.splitlines() if s.strip()), "is not valid CSV")
    return f"{where} line {line.group(1)}: {what}{shown}"


def unreadable_file(landing_dir: Path | str, batch: int | None = None) -> str | None:
    """The first delivered file (of `batch`, or every one) DuckDB cannot read, told as
    `read_error` tells it; None when all read. Reads the files: call it only to explain a
    failure."""
    con = duckdb.connect(config={"threads": 1})
    try:
        for table in raw_tables():
            try:
                con.execute(f"select count(*) from "
                            f"{delivered_relation(landing_dir, table, batch)}").fetchall()
            except duckdb.Error as exc:
                return read_error(str(exc), landing_dir) or f"{table}: {exc}"
    finally:
        con.close()
    return None


def delivered_counts(landing_dir: Path | str, batch: int | None = None) -> dict[str, int]:
    """{table: rows} of the delivered files (of `batch`, or every one), counted by reading
    them: for `kequn land` used on its own and for tests; a build counts the base models'
    rows instead (`record_rows`)."""
    con = duckdb.connect(config={"threads": 2})
    try:
        return {table: int(con.execute(
            f"select count(*) from {delivered_relation(landing_dir, table, batch)}"
        ).fetchone()[0]) for table in raw_tables()}
    finally:
        con.close()
