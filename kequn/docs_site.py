"""`kequn docs`: one offline documentation site for a published warehouse.

    <out>/index.html            the entry page (Chinese + English) linking the three below
    <out>/dbt/index.html        `dbt docs generate --static` (one self-contained page)
    <out>/data_docs/            the GX Data Docs of the latest published build
    <out>/segment_report.html   `kequn report` (kequn/segment_report.py)

Nothing is fetched from the network when a page is opened:
- dbt's catalog is read from a *copy* of the published file (dbt-duckdb opens its database
  read-write), so the published warehouse is never opened for writing;
- the Data Docs are rebuilt from the build's validation results in a copy of its
  `gx_context` (the build's own copy has its CDN tags stripped for the build report), then
  every CDN `<link>`/`<script>` is pointed at the same file from npm (package.json,
  installed by `make setup` into node_modules/) copied into `data_docs/static/vendor/`.
  A page still asking for anything off the machine fails the command (`DocsError`).
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import shutil
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from kequn import PROJECT_DIR
from kequn.state import state_dir, working_db

NODE_MODULES = PROJECT_DIR / "node_modules"
VENDOR = "static/vendor"

# Every CDN asset GX 1.24's Data Docs templates load -> the same file in node_modules
# (versions pinned in package.json). bootstrap-table's filter-control CSS is asked for at
# 1.19.0 beside 1.19.1 for everything else; 1.19.1's file is served for both.
CDN_ASSETS: dict[str, str] = {
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css":
        "bootstrap/dist/css/bootstrap.min.css",
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js":
        "bootstrap/dist/js/bootstrap.min.js",
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/"
    "bootstrap-prefers-dark.css": "@forevolve/bootstrap-dark/dist/css/bootstrap-prefers-dark.css",
    "https://code.jquery.com/jquery-3.7.1.min.js": "jquery/dist/jquery.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js":
        "popper.js/dist/umd/popper.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css":
        "@fortawesome/fontawesome-free/css/all.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/"
    "bootstrap-datepicker.min.css": "bootstrap-datepicker/dist/css/bootstrap-datepicker.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/"
    "bootstrap-datepicker.min.js": "bootstrap-datepicker/dist/js/bootstrap-datepicker.min.js",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css":
        "bootstrap-table/dist/bootstrap-table.min.css",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js":
        "bootstrap-table/dist/bootstrap-table.min.js",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/"
    "bootstrap-table-filter-control.min.js":
        "bootstrap-table/dist/extensions/filter-control/bootstrap-table-filter-control.min.js",
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/"
    "bootstrap-table-filter-control.css":
        "bootstrap-table/dist/extensions/filter-control/bootstrap-table-filter-control.css",
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/"
    "bootstrap-table-filter-control.min.css":
        "bootstrap-table/dist/extensions/filter-control/bootstrap-table-filter-control.min.css",
    "https://cdn.jsdelivr.net/npm/vega@5": "vega/build/vega.min.js",
    "https://cdn.jsdelivr.net/npm/vega-lite@5": "vega-lite/build/vega-lite.min.js",
    "https://cdn.jsdelivr.net/npm/vega-embed@6": "vega-embed/build/vega-embed.min.js",
}
# Folders an asset reads relative to itself (Font Awesome's css/ -> ../webfonts/).
ASSET_DIRS = ("@fortawesome/fontawesome-free/webfonts",)
# GX's logos come from its S3 bucket; the same logo ships in the site's static/images.
GX_IMAGES = "https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/"
GX_LOGO = "logo-long.png"

_TAG_URL = re.compile(r'(<(?:link|script|img)\b[^>]*?\b(?:href|src)=")(https?://[^"]+)(")',
                      re.IGNORECASE)
_STATIC = re.compile(r'(<(?:link|script|img)\b[^>]*?\b(?:href|src)=")(?:\.\./|\./)*static/')
_SRI = re.compile(r'\s+(?:integrity|crossorigin)="[^"]*"', re.IGNORECASE)
_GX_IMAGE = re.compile(re.escape(GX_IMAGES) + r'([\w.-]+)(\?[^"\')\s]*)?')
# What a browser would fetch: tag sources and CSS url(...); plain <a href> links are not.
_FETCHED = re.compile(r'<(?:link|script|img|iframe|source)\b[^>]*?\b(?:href|src)="(https?://[^"]+)"'
                      r"|url\(\s*['\"]?(https?://[^'\")\s]+)", re.IGNORECASE)


class DocsError(RuntimeError):
    """The docs site cannot be made offline (an asset missing, a step failed)."""


# --------------------------------------------------------------------------- dbt docs

def dbt_static_docs(db: Path, work: Path) -> Path:
    """`dbt docs generate --static` against a copy of `db`; returns the one-page HTML."""
    from kequn.dbt import DbtError, dbt_env, run_dbt

    copy = work / "catalog" / db.name
    copy.parent.mkdir(parents=True)
    # the catalog describes every model: staging and intermediate live in the working
    # database (the published file holds marts and rules only)
    whole = working_db(db)
    shutil.copyfile(whole if whole.exists() else db, copy)
    target = work / "target"
    landing = state_dir(db) / "landing"
    if not landing.is_dir():
        landing = db.parent / "landing"
    try:
        with dbt_env(copy, landing):
            run_dbt(["docs", "generate", "--static", "--quiet", "--log-path", str(work / "logs")],
                    target_path=target)
    except DbtError as exc:
        raise DocsError(str(exc)) from exc
    page = target / "static_index.html"
    if not page.exists():
        raise DocsError(f"dbt docs generate --static wrote no {page}")
    page.write_text(defer_template_urls(page.read_text(encoding="utf-8")), encoding="utf-8")
    return page


_SVG_USE = re.compile(r'(<use\b[^>]*?)\bxlink:href="(\{\{[^"]*\}\})"')
_FAVICON = re.compile(r'(<link rel="shortcut icon" href=")\$\{require\([^"]*\)\}(")')


def defer_template_urls(text: str) -> str:
    """Two template leftovers in dbt docs' static page make the browser ask for a URL that
    does not exist (a console error each on file://): its AngularJS icons put `{{ ... }}`
    straight into `xlink:href` (let AngularJS set `href` once interpolated: ng-attr-href),
    and its favicon link still reads `${require(...)}` (pointed at an empty data: URL)."""
    text = _SVG_USE.sub(r'\1ng-attr-href="\2"', text)
    return _FAVICON.sub(r'\1data:,\2', text)


# --------------------------------------------------------------------------- GX Data Docs

def latest_published_build(db: Path) -> Path | None:
    """The newest build folder of `db` whose status.json says `published`."""
    for builds in (state_dir(db) / "builds", db.parent / "builds"):
        if not builds.is_dir():
            continue
        for d in sorted((x for x in builds.iterdir() if x.is_dir()), reverse=True):
            try:
                state = json.loads((d / "status.json").read_text(encoding="utf-8"))["state"]
            except (OSError, ValueError, KeyError):
                continue
            if state == "published":
                return d
    return None


def _rebuild_data_docs(gx_context: Path, work: Path) -> Path:
    """Render the Data Docs afresh from a copy of a build's GX context (the build's own
    copy is left as it is); returns the site folder."""
    os.environ["GX_ANALYTICS_ENABLED"] = "false"
    import great_expectations as gx

    root = work / "gx_context"
    shutil.copytree(gx_context, root)
    shutil.rmtree(root / "gx" / "uncommitted" / "data_docs", ignore_errors=True)
    gx.get_context(mode="file", project_root_dir=str(root)).build_data_docs()
    site = root / "gx" / "uncommitted" / "data_docs" / "local_site"
    if not (site / "index.html").exists():
        raise DocsError(f"GX wrote no Data Docs from {gx_context}")
    return site


def _copy_assets(site: Path, node_modules: Path) -> None:
    missing = [p for p in [*CDN_ASSETS.values(), *ASSET_DIRS] if not (node_modules / p).exists()]
    if missing:
        raise DocsError(f"{node_modules} lacks {', '.join(sorted(set(missing)))}: run "
                        "`make setup` (npm ci installs package.json's pinned assets)")
    vendor = site / VENDOR
    for rel in sorted(set(CDN_ASSETS.values())):
        (vendor / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(node_modules / rel, vendor / rel)
    for rel in ASSET_DIRS:
        shutil.copytree(node_modules / rel, vendor / rel, dirs_exist_ok=True)


def localise_page(text: str, to_site_root: str, images: set[str]) -> str:
    """Point a Data Docs page's CDN tags and GX images at the local copies.

    `to_site_root` is the relative path from the page's folder to the site root; `images`
    the file names under the site's static/images. Subresource-integrity attributes go:
    a file:// page cannot check them (no CORS), and npm's lock file pins the bytes."""
    prefix = to_site_root.rstrip("/") + "/" if to_site_root not in ("", ".") else ""

    def tag(m: re.Match[str]) -> str:
        url = m.group(2)
        local = CDN_ASSETS.get(url)
        if local is None:
            return m.group(0)
        return m.group(1) + prefix + VENDOR + "/" + local + m.group(3)

    def image(m: re.Match[str]) -> str:
        name = m.group(1) if m.group(1) in images else GX_LOGO
        return prefix + "static/images/" + name

    out = _TAG_URL.sub(tag, text)
    # GX counts one `../` too few from validation pages to the site's static/ (favicon)
    out = _STATIC.sub(lambda m: m.group(1) + prefix + "static/", out)
    out = re.sub(r"<(?:link|script)\b[^>]*>", lambda m: _SRI.sub("", m.group(0)), out)
    return _GX_IMAGE.sub(image, out)


def external_requests(text: str) -> list[str]:
    """URLs a browser would fetch from off the machine to show this page."""
    return sorted({a or b for a, b in _FETCHED.findall(text)})


def offline_data_docs(build: Path, out: Path, work: Path,
                      node_modules: Path = NODE_MODULES) -> Path:
    """The build's Data Docs in `out`, with every CSS/JS file served from `out`."""
    site = _rebuild_data_docs(build / "gx_context", work)
    _copy_assets(site, node_modules)
    images = {p.name for p in (site / "static" / "images").glob("*")}
    problems = []
    for page in sorted(site.rglob("*.html")):
        rel = os.path.relpath(site, page.parent)
        text = localise_page(page.read_text(encoding="utf-8"), rel, images)
        left = external_requests(text)
        if left:
            problems.append(f"{page.relative_to(site)}: {', '.join(left)}")
        page.write_text(text, encoding="utf-8")
    if problems:
        raise DocsError("Data Docs pages still load from the network (add the asset to "
                        "package.json and CDN_ASSETS): " + "; ".join(problems[:5]))
    shutil.copytree(site, out)
    return out / "index.html"


# --------------------------------------------------------------------------- index page

INDEX_CSS = """
body{font:16px/1.6 "Noto Sans CJK SC","Noto Sans CJK JP",system-ui,sans-serif;color:#1f2328;
max-width:860px;margin:32px auto;padding:0 20px}h1{font-size:26px}.en{color:#57606a}
ul{list-style:none;padding:0}li{border:1px solid #d0d7de;border-radius:8px;margin:12px 0;
padding:12px 18px}li a{font-size:19px;font-weight:600}.meta{color:#57606a;font-size:13px}
.missing{color:#9a6700}
"""


def _index(db: Path, build: Path | None, has_data_docs: bool) -> str:
    con = duckdb.connect(str(db), read_only=True)
    try:
        as_of, version = con.execute(
            "select max(as_of_date), max(rule_version) from marts.client_segments").fetchone()
    finally:
        con.close()
    e = html.escape
    entries = [
        ("segment_report.html", "客群报告", "Segment report",
         "各客群规模、资产、生命旅程、迁移、渠道、流失预警与适当性的图表。",
         "Plots of group size and assets, lifecycle, migration, channels, churn risk and "
         "suitability."),
        ("dbt/index.html", "数据模型文档", "dbt docs",
         "每个模型、字段、测试与血缘（dbt docs generate --static）。",
         "Every model, column, test and the lineage graph."),
    ]
    if has_data_docs:
        entries.append(("data_docs/index.html", "数据质量文档", "GX Data Docs",
                        f"最近一次发布构建（{build.name if build else ''}）的数据质量校验结果。",
                        "Great Expectations validation results of the latest published build."))
    items = "".join(
        f'<li><a href="{e(href)}">{e(zh)} <span class="en">{e(en)}</span></a>'
        f"<div>{e(dzh)}</div><div class=en>{e(den)}</div></li>"
        for href, zh, en, dzh, den in entries)
    missing = "" if has_data_docs else (
        '<p class="missing">未找到已发布的构建目录，因此没有 GX Data Docs。 No published build '
        "folder was found, so there are no GX Data Docs.</p>")
    return (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        "<title>kequn 文档 Documentation</title>"
        f"<style>{INDEX_CSS}</style></head><body>"
        '<h1>kequn 客群 · 文档 <span class="en">Documentation</span></h1>'
        f'<p class="meta">仓库 Warehouse <code>{e(str(db))}</code> · 数据日期 As of {e(str(as_of))}'
        f" · 规则版本 rule_version <code>{e(str(version))}</code> · 生成于 generated "
        f"{datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}</p>"
        f"<ul>{items}</ul>{missing}</body></html>")


# --------------------------------------------------------------------------- command

def build_site(db: Path, out: Path | None = None) -> Path:
    """Write the whole site into `out` (replacing it only once every part is made)."""
    from kequn.segment_report import write_report

    db = Path(db)
    if not db.exists():
        raise DocsError(f"no warehouse at {db}: run `kequn build` first")
    out = Path(out) if out else state_dir(db) / "docs"
    out.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=out.name + ".", suffix=".tmp", dir=out.parent))
    try:
        work, site = scratch / "work", scratch / "site"
        work.mkdir()
        site.mkdir()
        write_report(db, site / "segment_report.html")
        (site / "dbt").mkdir()
        shutil.copyfile(dbt_static_docs(db, work), site / "dbt" / "index.html")
        build = latest_published_build(db)
        has_gx = build is not None and (build / "gx_context" / "gx").is_dir()
        if has_gx:
            offline_data_docs(build, site / "data_docs", work)
        else:
            print(f"kequn docs: no published build with GX results beside {db}; the site "
                  "has no Data Docs", file=sys.stderr)
        (site / "index.html").write_text(_index(db, build, has_gx), encoding="utf-8")
        old = scratch / "old"
        if out.exists():
            os.rename(out, old)
        os.rename(site, out)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return out / "index.html"


def run_docs(args: argparse.Namespace) -> int:
    from kequn.segment_report import ReportError

    try:
        index = build_site(args.db, args.out)
    except (DocsError, ReportError) as exc:
        print(f"kequn docs: {exc}", file=sys.stderr)
        return 2
    print(f"segment report: {index.parent / 'segment_report.html'}")
    print(f"docs site: {index}")
    return 0
