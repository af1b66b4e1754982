"""Writing the extract: routes rows to delivery files, one open writer per file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from kequn.contract import raw_tables

LOW_CARDINALITY = {
    "snapshot_date", "product_code", "is_restricted", "client_type", "gender", "occupation",
    "employer_industry", "employer_listed_board", "education", "marital_status", "risk_level",
    "open_channel", "branch_id", "city", "status", "account_type", "side", "channel",
    "event_type", "device", "direction", "event_date", "currency", "rate_date", "product_type",
    "board", "risk_rating", "margin_debt", "children_count", "fee",
}


class Sink:
    """Keeps a writer per delivery file; rows arrive chunk by chunk, in a fixed order."""

    def __init__(self, out: Path, extras: dict[tuple[str, str], tuple[str, list[str]]]):
        self.out = out
        self.extras = extras  # (table, file name) -> (extra column, cycle of values)
        self.writers: dict[tuple[str, str], object] = {}
        self.rows: dict[str, int] = {}
        self.file_rows: dict[str, int] = {}
        self.columns = raw_tables()

    def write(self, table: str, names: list[str], file_idx: np.ndarray, data: pa.Table) -> None:
        """Write data's rows to names[file_idx[i]] keeping their order within each file."""
        if data.num_rows == 0:
            return
        data = data.select(list(self.columns[table]))
        file_idx = np.asarray(file_idx)
        if len(file_idx) > 1 and (np.diff(file_idx) < 0).any():
            order = np.argsort(file_idx, kind="stable")
            sorted_idx = file_idx[order]
            data = data.take(pa.array(order))
        else:
            sorted_idx = file_idx
        bounds = np.flatnonzero(np.diff(sorted_idx)) + 1
        starts = np.concatenate([[0], bounds])
        ends = np.concatenate([bounds, [len(sorted_idx)]])
        for a, b in zip(starts, ends, strict=True):
            self._write_file(table, names[int(sorted_idx[a])], data.slice(a, b - a))

    def write_parts(self, table: str, names: list[str], parts) -> None:
        for file_idx, data in parts:
            self.write(table, names, file_idx, data)

    def _write_file(self, table: str, name: str, part: pa.Table) -> None:
        extra = self.extras.get((table, name))
        key = (table, name)
        rel = f"{table}/{name}"
        if extra:
            col, values = extra
            start = self.file_rows.get(rel, 0)
            idx = (np.arange(part.num_rows) + start) % len(values)
            part = part.append_column(col, pa.array(values, pa.string()).take(pa.array(idx)))
        part = part.cast(pa.schema([(f, pa.string()) for f in part.column_names]))
        w = self.writers.get(key)
        if w is None:
            path = self.out / table / name
            path.parent.mkdir(parents=True, exist_ok=True)
            if name.endswith(".csv"):
                w = pcsv.CSVWriter(str(path), part.schema)
            else:
                dict_cols = [c for c in part.column_names if c in LOW_CARDINALITY]
                w = pq.ParquetWriter(str(path), part.schema, compression="zstd",
                                     use_dictionary=dict_cols or False,
                                     write_statistics=False)
            self.writers[key] = w
        w.write_table(part)
        self.rows[table] = self.rows.get(table, 0) + part.num_rows
        self.file_rows[rel] = self.file_rows.get(rel, 0) + part.num_rows

    def close(self) -> None:
        for w in self.writers.values():
            w.close()
        self.writers.clear()


def strings(**cols) -> pa.Table:
    """A table of string columns; numpy/py values are cast."""
    out = {}
    for k, v in cols.items():
        out[k] = v if isinstance(v, pa.Array | pa.ChunkedArray) else pa.array(v, pa.string())
        if out[k].type != pa.string():
            out[k] = pc.cast(out[k], pa.string())
    return pa.table(out)
