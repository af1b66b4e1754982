"""`kequn export`: the advisor call lists and online campaign audiences, as files.

Reads `marts.client_outreach_lists` from the published warehouse (read-only) and writes, per
outreach list, branch and primary group, one CSV, Parquet and XLSX file of the contactable
clients. Every business rule (which list a group goes to, the next action, the products,
who may be contacted) lives in the mart; this module only filters rows and writes files:

    <out>/manifest.csv                                   one row per file set (rows, paths)
    <out>/<outreach_list>/<branch_id>/<primary_group>.csv|parquet|xlsx

CSV is UTF-8 with a byte-order mark (Excel then shows the Chinese right); XLSX has two
header rows, the Chinese header (seed `outreach_column_labels`) above the English column
name. Clients without a branch go under `unassigned`. The files are written into a
temporary sibling folder and moved into place at the end, so a failed export never leaves a
half-written `<out>`.
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

MART = "marts.client_outreach_lists"
LABELS = "rules.outreach_column_labels"
FORMATS = ("csv", "parquet", "xlsx")
UNASSIGNED_BRANCH = "unassigned"
MANIFEST = "manifest.csv"
MANIFEST_COLUMNS = ("outreach_list", "branch_id", "primary_group", "rows", "files")


class ExportError(Exception):
    """Bad arguments or a warehouse that cannot be exported; the message says which."""


@dataclass(frozen=True)
class Filters:
    """Rows to keep: each list is an allowed set of values; empty = no filter."""

    groups: tuple[str, ...] = ()
    branches: tuple[str, ...] = ()
    lifecycles: tuple[str, ...] = ()
    risk_levels: tuple[str, ...] = ()


@dataclass
class ExportResult:
    out: Path
    files: list[Path] = field(default_factory=list)
    manifest: list[dict[str, object]] = field(default_factory=list)

    def lines(self) -> list[str]:
        rows = sum(int(m["rows"]) for m in self.manifest)
        by_list: dict[str, int] = {}
        for m in self.manifest:
            name = str(m["outreach_list"])
            by_list[name] = by_list.get(name, 0) + int(m["rows"])
        lists = ", ".join(f"{k} {v:,}" for k, v in sorted(by_list.items())) or "no rows"
        return [f"exported {rows:,} clients in {len(self.manifest)} branch x group lists "
                f"({lists}), {len(self.files)} files, to {self.out}"]


def parse_formats(text: str) -> tuple[str, ...]:
    formats = tuple(f.strip().lower() for f in text.split(",") if f.strip())
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise ExportError(f"--format: unknown format {', '.join(unknown) or repr(text)} "
                          f"(known: {', '.join(FORMATS)})")
    return formats


def split_values(text: str | None) -> tuple[str, ...]:
    return tuple(v.strip() for v in (text or "").split(",") if v.strip())


def _known_values(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[str, str, set[str]]]:
    """Filter name -> (SQL expression, where the values come from, allowed values)."""
    def values(sql: str) -> set[str]:
        return {r[0] for r in con.execute(sql).fetchall() if r[0] is not None}

    branch = f"coalesce(branch_id, '{UNASSIGNED_BRANCH}')"
    return {
        "group": ("primary_group", "rules.rule_groups.group_code",
                  values("select group_code from rules.rule_groups")),
        "branch": (branch, f"{MART}.branch_id",
                   values(f"select distinct {branch} from {MART}")),
        "lifecycle": ("lifecycle_stage", "rules.rule_lifecycle_stages.stage_code",
                      values("select stage_code from rules.rule_lifecycle_stages")),
        "risk-level": ("churn_risk_level", "rules.rule_churn_levels.level_code",
                       values("select level_code from rules.rule_churn_levels")),
    }


def _where(con: duckdb.DuckDBPyConnection, filters: Filters) -> tuple[str, list[str]]:
    known = _known_values(con)
    clauses, params = ["is_contactable"], []
    for name, wanted in (("group", filters.groups), ("branch", filters.branches),
                         ("lifecycle", filters.lifecycles), ("risk-level", filters.risk_levels)):
        if not wanted:
            continue
        expression, source, allowed = known[name]
        unknown = sorted(set(wanted) - allowed)
        if unknown:
            shown = ", ".join(sorted(allowed)[:20]) + (" ..." if len(allowed) > 20 else "")
            raise ExportError(f"--{name}: unknown value {', '.join(map(repr, unknown))}: "
                              f"not in {source} (known: {shown})")
        clauses.append(f"{expression} in ({', '.join('?' for _ in wanted)})")
        params.extend(wanted)
    return " and ".join(clauses), params


def _columns(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    """(column, Chinese header) of the exported columns, in file order."""
    mart_columns = {r[0] for r in con.execute(f"describe {MART}").fetchall()}
    labels = con.execute(f"select column_name, label_zh, is_exported from {LABELS} "
                         "order by column_order").fetchall()
    unlabelled = sorted(mart_columns - {r[0] for r in labels})
    missing = sorted({r[0] for r in labels} - mart_columns)
    if unlabelled or missing:
        raise ExportError(
            f"{LABELS} and {MART} disagree: columns without a label "
            f"{unlabelled or 'none'}, labels without a column {missing or 'none'} "
            "(edit seeds/mappings/outreach_column_labels.csv)")
    return [(name, label) for name, label, exported in labels if exported]


def _safe_name(value: str) -> str:
    return re.sub(r"[^\w.-]", "_", value) or "_"


def _write_csv(table: pa.Table, path: Path) -> None:
    with path.open("wb") as f:
        f.write("\ufeff".encode())  # BOM: Excel reads the file as UTF-8
        pacsv.write_csv(table, f, pacsv.WriteOptions(quoting_style="needed"))


def _write_xlsx(table: pa.Table, headers_zh: Sequence[str], path: Path, title: str) -> None:
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(title=title[:31])
    ws.freeze_panes = "B3"
    ws.append(list(headers_zh))
    ws.append(table.column_names)
    for row in table.to_pylist():
        ws.append(list(row.values()))
    wb.save(path)


def _prepare_out(out: Path) -> Path:
    """A fresh temporary folder beside `out`; refuse to replace a folder that is not ours."""
    if out.exists() and any(out.iterdir()) and not (out / MANIFEST).is_file():
        raise ExportError(f"--out {out}: folder exists and holds no {MANIFEST} of an earlier "
                          "export; give an empty or new folder")
    out.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))


def _publish(tmp: Path, out: Path) -> None:
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, old)
        os.replace(tmp, out)
        shutil.rmtree(old)
    else:
        os.replace(tmp, out)


def export_lists(db: Path, out: Path, filters: Filters = Filters(),
                 formats: Sequence[str] = FORMATS) -> ExportResult:
    if not db.is_file():
        raise ExportError(f"--db {db}: no published warehouse there (run kequn build first)")
    con = duckdb.connect(str(db), read_only=True)
    try:
        try:
            columns = _columns(con)
        except duckdb.CatalogException as exc:
            raise ExportError(f"--db {db}: {MART} or {LABELS} is missing; rebuild the "
                              f"warehouse with this version ({exc})") from exc
        where, params = _where(con, filters)
        select = ", ".join(name for name, _ in columns)
        table = con.sql(
            f"select {select}, coalesce(branch_id, '{UNASSIGNED_BRANCH}') as _branch "
            f"from {MART} where {where} "
            "order by outreach_list, _branch, primary_group, client_id", params=params,
        ).to_arrow_table()
    finally:
        con.close()

    tmp = _prepare_out(out)
    result = ExportResult(out=out)
    try:
        key_columns = ["outreach_list", "_branch", "primary_group"]
        keys = table.select(key_columns).group_by(key_columns).aggregate([]).to_pylist()
        headers_zh = [label for _, label in columns]
        for key in sorted(keys, key=lambda k: tuple(k[c] for c in key_columns)):
            mask = pc.and_(pc.and_(pc.equal(table["outreach_list"], key["outreach_list"]),
                                   pc.equal(table["_branch"], key["_branch"])),
                           pc.equal(table["primary_group"], key["primary_group"]))
            part = table.filter(mask).drop_columns(["_branch"])
            folder = tmp / _safe_name(key["outreach_list"]) / _safe_name(key["_branch"])
            folder.mkdir(parents=True, exist_ok=True)
            stem = _safe_name(key["primary_group"])
            written = []
            for fmt in formats:
                path = folder / f"{stem}.{fmt}"
                if fmt == "csv":
                    _write_csv(part, path)
                elif fmt == "parquet":
                    pq.write_table(part, path)
                else:
                    _write_xlsx(part, headers_zh, path,
                                _safe_name(f"{key['_branch']}-{key['primary_group']}"))
                written.append(path.relative_to(tmp))
            result.files.extend(out / p for p in written)
            result.manifest.append({
                "outreach_list": key["outreach_list"], "branch_id": key["_branch"],
                "primary_group": key["primary_group"], "rows": part.num_rows,
                "files": ";".join(str(p) for p in written),
            })
        with (tmp / MANIFEST).open("w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=MANIFEST_COLUMNS)
            writer.writeheader()
            writer.writerows(result.manifest)
        _publish(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return result


def run_export(args: argparse.Namespace) -> int:
    try:
        filters = Filters(groups=split_values(args.group), branches=split_values(args.branch),
                          lifecycles=split_values(args.lifecycle),
                          risk_levels=split_values(args.risk_level))
        result = export_lists(args.db, args.out, filters, parse_formats(args.format))
        print("\n".join(result.lines()))
        if args.feast:
            from kequn.feast_layout import write_feast_layout

            print("\n".join(write_feast_layout(args.db, args.out / "feast")))
    except ExportError as exc:
        print(f"kequn export: {exc}", file=sys.stderr)
        return 2
    return 0
