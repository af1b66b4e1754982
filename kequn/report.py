"""One self-contained HTML report per build, and the append-only gate history.

The report needs no network: styles are inline and there is no JavaScript. It shows the
outcome, step timings, every gate expectation (failures first, with offending values),
dbt test results from run_results.json, the reconciliation table, reject counts, the keys
rejected because their own delivery file contradicted itself, and the history of earlier
builds (`gate_history.jsonl` in the warehouse's state folder, one JSON object per build).

GX Data Docs pull Bootstrap/jQuery from CDNs; `offline_data_docs` rewrites each page to
drop those tags and inline a small stylesheet, so the pages stay readable offline.
"""

from __future__ import annotations

import html
import json
import os
import re
from pathlib import Path
from typing import Any

CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans CJK SC",sans-serif;
margin:24px auto;max-width:1200px;color:#1f2328;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}
h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #d0d7de;padding-bottom:4px}
table{border-collapse:collapse;width:100%;margin:6px 0 12px;font-size:13px}
th,td{border:1px solid #d0d7de;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f6f8fa}td.n{text-align:right;font-variant-numeric:tabular-nums}
.ok{color:#1a7f37;font-weight:600}.fail{color:#cf222e;font-weight:600}.muted{color:#656d76}
.badge{display:inline-block;padding:3px 10px;border-radius:12px;color:#fff;font-weight:600}
.b-ok{background:#1a7f37}.b-fail{background:#cf222e}
.bar{background:#54aeff;height:10px;display:inline-block;vertical-align:middle}
code,pre{font:12px ui-monospace,SFMono-Regular,Menlo,monospace;background:#f6f8fa}
pre{padding:8px;overflow:auto;white-space:pre-wrap}details{margin:6px 0}
summary{cursor:pointer;font-weight:600}tr.bad td{background:#fff1f0}
"""


def append_history(path: Path, run: dict[str, Any]) -> None:
    """Append one line for this build (a single O_APPEND write: safe with concurrent builds)."""
    line = {
        "run_id": run["run_id"], "started_at": run.get("started_at"),
        "finished_at": run.get("finished_at"), "status": run["status"],
        "exit_code": run.get("exit_code"), "failed_step": run.get("failed_step"),
        "raw_dir": run.get("raw_dir"), "seconds": run.get("seconds"),
        "steps": {s["name"]: s["seconds"] for s in run.get("steps", [])},
        "gates": {
            layer: {"success": g["success"], "evaluated": g["evaluated"], "failed": g["failed"],
                    "seconds": g["seconds"],
                    "failures": [f["line"][:300] for f in g["findings"][:20]]}
            for layer, g in run.get("gates", {}).items()
        },
        "dbt": run.get("dbt", {}).get("counts"),
        "reconciliation": run.get("reconciliation"),
        "build_dir": run.get("build_dir"),
        "published": run.get("published"),
    }
    data = (json.dumps(line, ensure_ascii=False, default=str) + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def read_history(path: Path, last: int = 30) -> list[dict]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue   # a line cut short by a kill: skip it
    return out[-last:]


CONFLICTS_LISTED = 50


def conflicting_rows(db: Path, limit: int = CONFLICTS_LISTED) -> list[dict]:
    """The keys rejected as conflicting_rows_in_file, from the staging *_rejected models:
    one entry per (table, file, key) with the rows of the file that carried it."""
    import duckdb

    try:
        con = duckdb.connect(str(db), read_only=True)
    except duckdb.Error:
        return []
    out: list[dict] = []
    try:
        tables = con.execute(
            "select table_name from information_schema.tables where table_schema = 'staging' "
            "and table_name like 'stg\\_brokerage\\_\\_%\\_rejected' escape '\\' "
            "order by 1").fetchall()
        for (table,) in tables:
            cols = [r[0] for r in con.execute(
                "select column_name from information_schema.columns where table_schema = "
                "'staging' and table_name = ? order by ordinal_position", [table]).fetchall()]
            keys = [c for c in cols if not c.startswith(("_", "reject_"))]
            if "reject_reason" not in cols or not keys:
                continue
            key_text = " || ', ' || ".join(f"'{k}=' || coalesce(\"{k}\", '∅')" for k in keys)
            name = table.removeprefix("stg_brokerage__").removesuffix("_rejected")
            for file, key, rows in con.execute(
                    f"select _source_file, {key_text}, "
                    f"string_agg(cast(_row_in_file as varchar), ', ' order by _row_in_file) "
                    f'from staging."{table}" where reject_reason = \'conflicting_rows_in_file\' '
                    f"group by all order by 1, 2 limit {int(limit) - len(out)}").fetchall():
                out.append({"table": name, "file": file, "key": key, "rows_in_file": rows})
            if len(out) >= limit:
                break
    except duckdb.Error:
        return out
    finally:
        con.close()
    return out


def _e(v: Any) -> str:
    if isinstance(v, (dict, list)):
        v = json.dumps(v, ensure_ascii=False, default=str)
    return html.escape("" if v is None else str(v))


def _table(rows: list[dict], cols: list[str], *, numeric: set[str] | None = None,
           bad=None) -> str:
    numeric = numeric or set()
    head = "".join(f"<th>{_e(c)}</th>" for c in cols)
    body = []
    for r in rows:
        cls = ' class="bad"' if bad and bad(r) else ""
        cells = "".join(
            f'<td class="n">{_e(_fmt(r.get(c)))}</td>' if c in numeric
            else f"<td>{_e(r.get(c))}</td>"
            for c in cols)
        body.append(f"<tr{cls}>{cells}</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _fmt(v: Any) -> Any:
    if isinstance(v, float):
        return f"{v:,.2f}"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    return v


def _rel(target: str | None, base: Path) -> str | None:
    if not target:
        return None
    try:
        return os.path.relpath(target, base)
    except ValueError:
        return target


def write_report(path: Path, run: dict[str, Any], history: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    ok = run["status"] == "published"
    parts = [f"<!doctype html><html lang=en><head><meta charset=utf-8>"
             f"<title>kequn build {_e(run['run_id'])}</title><style>{CSS}</style></head><body>"]
    badge = ('<span class="badge b-ok">PUBLISHED</span>' if ok
             else f'<span class="badge b-fail">FAILED at {_e(run.get("failed_step"))}</span>')
    parts.append(f"<h1>kequn build {_e(run['run_id'])} {badge}</h1>")
    parts.append(
        f'<p class="muted">started {_e(run.get("started_at"))} · {_e(run.get("seconds"))} s · '
        f"raw <code>{_e(run.get('raw_dir'))}</code> · warehouse <code>{_e(run.get('db'))}</code>"
        f"{' (replaced)' if ok else ' (unchanged)'} · build folder "
        f"<code>{_e(run.get('build_dir'))}</code> · as-of {_e(run.get('as_of') or 'latest')}"
        f"{' · full refresh' if run.get('full_refresh') else ''}</p>")
    if run.get("error"):
        parts.append(f'<h2 class="fail">Why it failed</h2><pre>{_e(run["error"])}</pre>')

    # Steps and timings
    total = max(sum(s["seconds"] for s in run.get("steps", [])), 0.001)
    rows = []
    for s in run.get("steps", []):
        width = int(300 * s["seconds"] / total)
        cls = "ok" if s["status"] == "ok" else "fail"
        rows.append(f"<tr><td>{_e(s['name'])}</td><td class={cls}>{_e(s['status'])}</td>"
                    f"<td class=n>{s['seconds']:.2f}</td>"
                    f"<td class=n>{100 * s['seconds'] / total:.0f}%</td>"
                    f"<td><span class=bar style='width:{width}px'></span></td>"
                    f"<td>{_e(s.get('detail', '')[:300])}</td></tr>")
    parts.append("<h2>Steps</h2><table><tr><th>step</th><th>status</th><th>seconds</th>"
                 "<th>share</th><th></th><th>detail</th></tr>" + "".join(rows) + "</table>")

    # Gates
    for layer in ("raw", "marts"):
        g = run.get("gates", {}).get(layer)
        if not g:
            continue
        cls = "ok" if g["success"] else "fail"
        docs = _rel(run.get("data_docs"), path.parent)
        link = f' · <a href="{_e(docs)}">GX Data Docs</a>' if docs else ""
        parts.append(f"<h2>{layer} gate: <span class={cls}>{'passed' if g['success'] else 'FAILED'}"
                     f"</span> <span class=muted>({g['evaluated'] - g['failed']}/{g['evaluated']} "
                     f"expectations met, {g['seconds']:.1f} s){link}</span></h2>")
        if g.get("error"):
            parts.append(f"<p class=fail>{_e(g['error'])}</p>")
        if g["findings"]:
            frows = [{"table": f["asset"], "column": f["column"], "expectation": f["expectation"],
                      "observed": f["observed"], "offending values (sample)": f["sample"][:5],
                      "what": f["description"]} for f in g["findings"]]
            parts.append(_table(frows, ["table", "column", "expectation", "observed",
                                        "offending values (sample)", "what"], bad=lambda r: True))
        res = sorted(g.get("results", []), key=lambda r: (r["success"], r["suite"]))
        parts.append(f"<details><summary>All {len(res)} {layer} expectations</summary>"
                     + _table(res, ["suite", "column", "expectation", "success", "observed",
                                    "description"], bad=lambda r: not r["success"])
                     + "</details>")

    # dbt
    dbt = run.get("dbt") or {}
    if dbt:
        parts.append("<h2>dbt build</h2>")
        crow = [{"kind": k, **v} for k, v in sorted(dbt.get("counts", {}).items())]
        statuses = sorted({s for v in dbt.get("counts", {}).values() for s in v})
        parts.append(_table(crow, ["kind", *statuses], numeric=set(statuses)))
        failing = [r for r in dbt.get("results", [])
                   if str(r["status"]) not in ("success", "pass", "skipped")]
        if failing:
            parts.append("<h3>Not passing</h3>" + _table(
                failing, ["unique_id", "status", "failures", "message"], bad=lambda r: True))
        tests = [r for r in dbt.get("results", []) if r["kind"] in ("test", "unit_test")]
        parts.append(f"<details><summary>All {len(tests)} dbt tests</summary>"
                     + _table(tests, ["unique_id", "status", "failures", "seconds"],
                              numeric={"seconds"}, bad=lambda r: r["status"] != "pass")
                     + "</details>")

    # Reconciliation and rejects
    recon = run.get("reconciliation") or []
    if recon:
        cols = list(recon[0].keys())
        num = {c for c in cols if isinstance(recon[0].get(c), (int, float))}
        parts.append("<h2>Reconciliation (dq_reconciliation)</h2>" + _table(
            recon, cols, numeric=num,
            bad=lambda r: r.get("raw_rows") != (r.get("loaded_rows") or 0)
            + (r.get("duplicate_rows") or 0) + (r.get("rejected_rows") or 0)))
    rejects = run.get("rejects") or []
    if rejects:
        parts.append("<h2>Rejected rows by model and reason</h2>"
                     + _table(rejects, ["model", "reason", "column", "rows"], numeric={"rows"}))
    conflicts = run.get("conflicts") or []
    if conflicts:
        parts.append(
            "<h2>同一文件内互相矛盾的行 · Rows contradicting their own file</h2>"
            "<p class=\"muted\">Each key below came twice or more in one delivery file with "
            "different values; every row of it was rejected as conflicting_rows_in_file "
            f"(first {CONFLICTS_LISTED} keys; dq_reconciliation.conflicting_rows counts all)."
            "</p>" + _table(conflicts, ["table", "file", "key", "rows_in_file"]))
    landing = run.get("landing") or {}
    if landing:
        lrows = [{"table": k, **v} for k, v in landing.items()]
        parts.append("<h2>Landing</h2>" + _table(
            lrows, ["table", "files", "new_files", "rows", "new_rows", "extra_columns"],
            numeric={"files", "new_files", "rows", "new_rows"}))
    if run.get("encodings"):
        parts.append("<h3>Files read in an encoding other than UTF-8</h3>"
                     + _table(run["encodings"], ["file", "encoding"]))
    if run.get("not_read"):
        parts.append(f"<h3>Files in the extract not read ({len(run['not_read'])})</h3>"
                     + _table(run["not_read"], ["file", "reason"], bad=lambda r: True))

    # History
    if history:
        hrows = []
        for h in reversed(history):
            g = h.get("gates", {})
            hrows.append({
                "run": h["run_id"], "status": h["status"], "failed step": h.get("failed_step"),
                "seconds": h.get("seconds"),
                "raw gate": _gate_cell(g.get("raw")), "marts gate": _gate_cell(g.get("marts")),
                "dbt": "; ".join(f"{k}: " + ", ".join(f"{n} {s}" for s, n in v.items())
                                 for k, v in (h.get("dbt") or {}).items()),
                "first failure": (_first_failure(g) or "")[:200],
            })
        parts.append("<h2>History (last builds, newest first)</h2>" + _table(
            hrows, ["run", "status", "failed step", "seconds", "raw gate", "marts gate", "dbt",
                    "first failure"], numeric={"seconds"},
            bad=lambda r: r["status"] != "published"))
    parts.append("</body></html>")
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("\n".join(parts), encoding="utf-8")
    os.replace(tmp, path)
    return path


def _gate_cell(g: dict | None) -> str:
    if not g:
        return "—"
    state = "ok" if g["success"] else "FAIL"
    return f"{state} {g['evaluated'] - g['failed']}/{g['evaluated']} in {g['seconds']:.1f}s"


def _first_failure(gates: dict) -> str | None:
    for layer in ("raw", "marts"):
        fails = (gates.get(layer) or {}).get("failures") or []
        if fails:
            return fails[0]
    return None


_CDN = re.compile(r'<(?:link|script)\b[^>]*(?:href|src)="https?://[^"]*"[^>]*>(?:\s*</script>)?',
                  re.IGNORECASE)
_OFFLINE_CSS = ("<style>/* kequn: CDN assets removed for offline viewing */"
                "body{font:14px system-ui,sans-serif;margin:16px}table{border-collapse:collapse}"
                "td,th{border:1px solid #ccc;padding:3px 6px;vertical-align:top}"
                ".collapse:not(.show){display:block}.d-none{display:none}"
                ".alert-danger,.text-danger{color:#b00}.text-success{color:#070}"
                "img{max-height:40px}nav{margin-bottom:12px}"
                ".fa-check-circle::before,.fa-check::before{content:'\\2714';color:#070}"
                ".fa-times-circle::before,.fa-times::before,.fa-exclamation-triangle::before"
                "{content:'\\2718';color:#b00}</style>")


def offline_data_docs(site_dir: Path) -> int:
    """Strip CDN <link>/<script> tags from every Data Docs page and inline a small stylesheet."""
    n = 0
    for page in site_dir.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        new = _CDN.sub("", text)
        new = re.sub(r'<img[^>]*src="https?://[^"]*"[^>]*>', "", new)
        if "kequn: CDN assets removed" not in new:
            new = new.replace("</head>", _OFFLINE_CSS + "</head>", 1)
        if new != text:
            page.write_text(new, encoding="utf-8")
            n += 1
    return n
