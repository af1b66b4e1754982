"""One delivered raw file, looked at before any of its rows are read.

Which files of a table folder are data (`*.csv`, `*.csv.gz`, `*.parquet`) and, for every
other file, why it is not read; a content fingerprint (SHA-256 of the bytes as delivered,
so a file rewritten in place is noticed even at the same size); for CSV its text encoding
(UTF-8, else GB18030 — the superset of GBK that Chinese source systems export), the first
NUL byte, and the header row. One streaming pass over the bytes does all of it (the
fingerprint has to read every byte anyway; the NUL and UTF-8 checks ride on that read).
Nothing here reads rows: the base models read each file in place (kequn/landing.py).
"""

from __future__ import annotations

import codecs
import csv
import gzip
import hashlib
import io
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

FORMATS = {".csv.gz": "csv.gz", ".csv": "csv", ".parquet": "parquet"}
READ_PATTERNS = "*.csv, *.csv.gz, *.parquet"
FALLBACK_ENCODING = "gb18030"
CHUNK = 1 << 20


class BadDelivery(ValueError):
    """A delivered file that cannot be read as the contract says; the message says why
    (the caller adds table and file)."""


@dataclass(frozen=True)
class Inspected:
    fingerprint: str          # "sha256:<hex>" of the file's bytes as delivered
    encoding: str | None      # CSV: "utf-8" or "gb18030"; Parquet: None
    columns: tuple[str, ...]  # header as delivered (CSV: blank names become _blank_<i>)


def file_format(path: Path) -> str | None:
    """`csv`, `csv.gz` or `parquet` for a data file of the contract, else None."""
    name = path.name.lower()
    if name.startswith("."):
        return None
    return next((fmt for suffix, fmt in FORMATS.items() if name.endswith(suffix)), None)


def why_not_read(path: Path) -> str:
    """The reason a file of a table folder is not read (for a file `file_format` refuses)."""
    name = path.name.lower()
    if name.startswith("."):
        return "hidden file"
    if name.endswith((".gz", ".zip", ".zst", ".bz2", ".xz", ".7z", ".tar", ".tgz")):
        return f"compressed, but not a gzip CSV (the contract's files are {READ_PATTERNS})"
    return f"not a data file (the contract's files are {READ_PATTERNS})"


class _Hashing(io.RawIOBase):
    """A read-only stream that hashes every byte read through it."""

    def __init__(self, raw: BinaryIO):
        self.raw, self.hash = raw, hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:   # type: ignore[override]
        n = self.raw.readinto(buffer)
        if n:
            self.hash.update(memoryview(buffer)[:n])
        return n or 0


def fingerprint(path: Path) -> str:
    """SHA-256 of the file's bytes (hardware-accelerated here: ~1 s per GB)."""
    with open(path, "rb") as fh:
        return "sha256:" + hashlib.file_digest(fh, "sha256").hexdigest()


def inspect(path: Path, fmt: str) -> Inspected:
    """Fingerprint a data file and, for CSV, find its encoding, any NUL byte and its header.

    Raises BadDelivery for a file no reader should guess about: empty, not gzip, neither
    UTF-8 nor GB18030, a NUL byte, no header, or a column named twice in the header.
    """
    if path.stat().st_size == 0:
        raise BadDelivery(f"is empty (0 bytes), not valid {fmt.upper()}")
    if fmt == "parquet":
        return Inspected(fingerprint(path), None, _parquet_columns(path))
    digest, encoding = _scan_csv(path, fmt)
    columns = _csv_header(path, fmt, encoding)
    return Inspected(digest, encoding, columns)


def _scan_csv(path: Path, fmt: str) -> tuple[str, str]:
    """One pass: hash the bytes as delivered, and over the (decompressed) text find the
    first NUL byte and whether it is valid UTF-8. Returns (fingerprint, encoding)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    utf8_error: str | None = None
    lines, first = 0, True
    with open(path, "rb") as fh:
        hashed = _Hashing(fh)
        stream: BinaryIO = (gzip.GzipFile(fileobj=hashed) if fmt == "csv.gz"  # type: ignore[assignment]
                            else io.BufferedReader(hashed, CHUNK))
        try:
            while chunk := stream.read(CHUNK):
                if first and chunk.startswith((b"\xff\xfe", b"\xfe\xff")):
                    raise BadDelivery("is UTF-16 (it starts with a UTF-16 byte-order mark); "
                                      "the contract's CSV files are UTF-8: re-export it")
                nul = chunk.find(b"\x00")
                if nul >= 0:
                    line = lines + chunk.count(b"\n", 0, nul) + 1
                    raise BadDelivery(
                        f"line {line}: a value holds a NUL byte (\\x00), which no text "
                        "field of the contract may hold; re-export the file")
                if utf8_error is None and not (chunk.isascii() and not decoder.getstate()[0]):
                    try:
                        decoder.decode(chunk)
                    except UnicodeDecodeError as exc:
                        line = lines + chunk.count(b"\n", 0, max(exc.start, 0)) + 1
                        utf8_error = f"line {line}"
                lines, first = lines + chunk.count(b"\n"), False
            if utf8_error is None:
                try:
                    decoder.decode(b"", final=True)
                except UnicodeDecodeError:
                    utf8_error = "the end of the file"
        except (OSError, EOFError, zlib.error) as exc:
            if fmt != "csv.gz":
                raise
            raise BadDelivery(f"is not valid gzip: {exc}") from exc
        digest = "sha256:" + hashed.hash.hexdigest()
    if utf8_error is None:
        return digest, "utf-8"
    if _decodes(path, fmt, FALLBACK_ENCODING):
        return digest, FALLBACK_ENCODING
    raise BadDelivery(
        f"is not UTF-8 (first invalid byte at {utf8_error}) and not GB18030/GBK either; "
        "re-export it as UTF-8")


def open_csv(path: Path, fmt: str) -> BinaryIO:
    """The (decompressed) bytes of a delivered CSV."""
    return gzip.open(path, "rb") if fmt == "csv.gz" else open(path, "rb")  # noqa: SIM115


def _decodes(path: Path, fmt: str, encoding: str) -> bool:
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        with open_csv(path, fmt) as fh:
            while chunk := fh.read(CHUNK):
                decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _csv_header(path: Path, fmt: str, encoding: str) -> tuple[str, ...]:
    text_encoding = "utf-8-sig" if encoding == "utf-8" else encoding
    with open_csv(path, fmt) as fh, io.TextIOWrapper(fh, encoding=text_encoding,
                                                      newline="") as text:
        try:
            header = next(csv.reader(text, delimiter=",", quotechar='"', doublequote=True))
        except StopIteration:
            header = []
        except csv.Error as exc:
            raise BadDelivery(f"line 1: the header row is not valid CSV: {exc}") from exc
    if not any(name.strip() for name in header):
        raise BadDelivery("has no header row (its first line is blank)")
    names = tuple(name if name.strip() else f"_blank_{i + 1}" for i, name in enumerate(header))
    _refuse_repeated(names)
    return names


def header(path: Path, fmt: str, encoding: str | None) -> tuple[str, ...]:
    """The header of a data file, reading only its first line (CSV) or footer (Parquet)."""
    if fmt == "parquet":
        return _parquet_columns(path)
    return _csv_header(path, fmt, encoding or "utf-8")


def parquet_rows(path: Path) -> int:
    """The row count a Parquet file states in its footer."""
    import pyarrow.parquet as pq

    return int(pq.read_metadata(path).num_rows)


def _parquet_columns(path: Path) -> tuple[str, ...]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        names = tuple(pq.read_schema(path).names)
    except (pa.ArrowException, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BadDelivery(f"is not valid PARQUET: {first}") from exc
    _refuse_repeated(names)
    return names


def _refuse_repeated(names: tuple[str, ...]) -> None:
    """A header naming one column twice (also after trimming and lower-casing, as the
    columns are matched to the contract) leaves no way to tell which copy holds the data."""
    counts = Counter(n.strip().lower() for n in names)
    repeated = [n for n, k in counts.items() if k > 1]
    if repeated:
        detail = "; ".join(
            f"column {n} appears {counts[n]} times (as "
            + ", ".join(repr(x) for x in names if x.strip().lower() == n) + ")"
            for n in repeated)
        raise BadDelivery(f"has a repeated column in its header: {detail}; "
                          "which copy holds the data cannot be told, so the file is refused")
