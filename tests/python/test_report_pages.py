"""The segment report and the docs site, opened as a reader would: in headless Chromium.

One generated extract is built into a fresh warehouse; `kequn docs` (which also writes the
segment report) runs on it through the real CLI. Chromium (Debian's, driven by
playwright-core from node_modules/, see page_check.cjs) opens the index, every page it
links and one GX validation page, and each must show its content with no console error,
no uncaught exception, no request that leaves the machine (they are aborted and recorded),
no broken image and no plot drawn in a single colour; a screenshot of each lands in the
test's tmp dir. Needs `make setup` (chromium, fonts-noto-cjk, npm ci).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
from datetime import date
from pathlib import Path

import duckdb
import pytest
from conftest import isolated_env, kequn
from PIL import Image

from kequn import PROJECT_DIR
from kequn.docs_site import CDN_ASSETS, VENDOR, external_requests, localise_page

pytestmark = pytest.mark.slow
CHROMIUM = Path("/usr/bin/chromium")
PAGE_CHECK = Path(__file__).with_name("page_check.cjs")
SCALE = "0.01"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> dict[str, Path]:
    """A built warehouse and its docs site (`kequn docs`), with the DB's hash before."""
    tmp = tmp_path_factory.mktemp("report_pages")
    env = {**isolated_env(tmp), "KEQUN_MEMORY_LIMIT": "2GB"}
    kequn("generate", "--scale", SCALE, "--out", str(tmp / "raw"), "--no-progress", env=env)
    db = tmp / "wh" / "kequn.duckdb"
    kequn("build", "--raw-dir", str(tmp / "raw"), "--db", str(db), env=env)
    before = _sha256(db)
    proc = kequn("docs", "--db", str(db), "--out", str(tmp / "site"), env=env)
    return {"tmp": tmp, "db": db, "site": tmp / "site", "db_sha_before": before,
            "stdout": proc.stdout}


def test_docs_site_never_writes_the_published_warehouse(site):
    assert _sha256(site["db"]) == site["db_sha_before"]
    assert not site["db"].with_name(site["db"].name + ".wal").exists()
    assert f"docs site: {site['site'] / 'index.html'}" in site["stdout"]
    assert f"segment report: {site['site'] / 'segment_report.html'}" in site["stdout"]
    # nothing of the work copies (catalog DB, GX context) is left beside the site
    assert sorted(p.name for p in site["site"].iterdir()) == [
        "data_docs", "dbt", "index.html", "segment_report.html"]
    assert not list(site["site"].parent.glob("site.*.tmp"))


def _report_pngs(page: str) -> list[Image.Image]:
    return [Image.open(io.BytesIO(base64.b64decode(m)))
            for m in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)]


def test_report_plots_are_drawn_from_the_marts(site):
    page = (site["site"] / "segment_report.html").read_text(encoding="utf-8")
    assert not re.search(r'(?:src|href)="https?://', page), "the report must load nothing"
    assert "<script" not in page
    pngs = _report_pngs(page)
    # groups, lifecycle (funnel + stage transitions), migration, channels, churn, suitability,
    # behavioural clusters (silhouette per k, cluster x group, cluster x lifecycle)
    assert len(pngs) == 10
    for i, img in enumerate(pngs):
        rgb = img.convert("RGB")
        assert rgb.width > 300 and rgb.height > 150, f"plot {i} is {rgb.size}"
        small = rgb.resize((200, max(1, 200 * rgb.height // rgb.width)))
        raw = small.tobytes()
        px = list(zip(raw[0::3], raw[1::3], raw[2::3], strict=True))
        coloured = sum(1 for r, g, b in px if max(r, g, b) - min(r, g, b) > 40)
        assert len(set(px)) > 20, f"plot {i} is (nearly) one colour"
        assert coloured / len(px) > 0.01, f"plot {i} has no coloured data marks"
    con = duckdb.connect(str(site["db"]), read_only=True)
    try:
        clients, as_of = con.execute(
            "select count(*), max(as_of_date) from marts.client_segments").fetchone()
        names = con.execute("select group_code, group_name_zh from rules.rule_groups").fetchall()
        latest = [r[0] for r in con.execute(
            "select distinct month_end from marts.client_group_membership_history "
            "order by month_end desc limit 3").fetchall()]
    finally:
        con.close()
    assert f'<div class="v">{clients:,}</div><div>客户数</div>' in page
    for code, zh in names:
        assert f"{zh} {code}" in page
    # the migration compares the last two calendar month ends, never the as-of date row
    month_ends = [d for d in latest if d != as_of][:2]
    assert all(date.fromordinal(d.toordinal() + 1).day == 1 for d in month_ends), month_ends
    assert f"主客群迁移 Primary-group migration {month_ends[1]} → {month_ends[0]}" in page
    assert f"→ {as_of}" not in page


def test_data_docs_are_served_locally(site):
    docs = site["site"] / "data_docs"
    pages = sorted(docs.rglob("*.html"))
    assert len(pages) > 10
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert external_requests(text) == [], page
        for m in re.findall(r'<(?:script|link)\b[^>]*?(?:src|href)="([^"]+)"', text):
            if not m.startswith(("data:", "#")):
                assert (page.parent / m).resolve().exists(), f"{page}: {m} is missing"
    for rel in CDN_ASSETS.values():
        assert (docs / VENDOR / rel).stat().st_size > 100


def _chromium(pages: list[dict], tmp: Path) -> list[dict]:
    if not CHROMIUM.exists() or not (PROJECT_DIR / "node_modules" / "playwright-core").is_dir():
        pytest.fail("needs /usr/bin/chromium and node_modules/playwright-core: run `make setup`")
    profile = tmp / "chromium-profile"
    shutil.rmtree(profile, ignore_errors=True)
    spec = tmp / "pages.json"
    spec.write_text(json.dumps({"executable": str(CHROMIUM), "userDataDir": str(profile),
                                "pages": pages}), encoding="utf-8")
    # Chromium's caches and dconf go into the test's folder, not into ~
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp / "xdg-cache"),
           "XDG_CONFIG_HOME": str(tmp / "xdg-config")}
    proc = subprocess.run(["node", str(PAGE_CHECK), str(spec)], cwd=PROJECT_DIR, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout)["pages"]


def test_pages_render_offline_in_headless_chromium(site):
    root, tmp = site["site"], site["tmp"]
    index = root / "index.html"
    links = re.findall(r'<a href="([^"]+)"', index.read_text(encoding="utf-8"))
    assert sorted(links) == ["data_docs/index.html", "dbt/index.html", "segment_report.html"]
    validation = next((root / "data_docs" / "validations").rglob("*client_segments*.html"))
    expect = {
        "index.html": "客群报告",
        "segment_report.html": "主客群迁移",
        # a model page: the manifest and the catalog (column types from DuckDB) both loaded
        "dbt/index.html": "decimal(18,2)",
        "data_docs/index.html": "client_segments",
    }
    specs = []
    for rel, text in expect.items():
        url = (root / rel).as_uri()
        if rel.startswith("dbt/"):
            url += "#!/model/model.kequn.client_segments"
        specs.append({"url": url, "screenshot": str(tmp / (rel.replace("/", "_") + ".png")),
                      "fullPage": rel in ("index.html", "segment_report.html"),
                      "expectText": text, "timeoutMs": 45000})
    specs.append({"url": validation.as_uri(), "screenshot": str(tmp / "gx_validation.png"),
                  "fullPage": False, "expectText": "client_segments", "timeoutMs": 45000})
    results = _chromium(specs, tmp)
    assert len(results) == len(specs)
    for spec, r in zip(specs, results, strict=True):
        where = spec["url"]
        assert r["textFound"], f"{where}: never showed {spec['expectText']!r}"
        assert r["consoleErrors"] == [], f"{where}: console errors {r['consoleErrors'][:5]}"
        assert r["pageErrors"] == [], f"{where}: uncaught exceptions {r['pageErrors'][:5]}"
        assert r["external"] == [], f"{where}: requests off the machine {r['external'][:5]}"
        assert r["failedRequests"] == [], f"{where}: failed loads {r['failedRequests'][:5]}"
        assert r["cjkFont"], f"{where}: no CJK font for Chinese text (fonts-noto-cjk)"
        for img in r["images"]:
            assert img["complete"] and img["width"] > 0, f"{where}: broken image {img['src']}"
        shot = Path(spec["screenshot"])
        assert shot.stat().st_size > 10_000, f"{shot} looks blank"
        assert len(set(Image.open(shot).convert("L").resize((64, 64)).tobytes())) > 8, shot
    report = results[1]
    plots = [i for i in report["images"] if i["cls"] == "plot"]
    assert len(plots) == 7
    for p in plots:
        assert p["colours"] > 20 and p["colouredShare"] > 0.01, f"empty plot in the page: {p}"
    # the index links exactly the pages that were opened
    opened = {Path(s["url"].split("#")[0]).name for s in specs}
    assert {Path(link).name for link in links} <= opened


def test_report_names_a_missing_warehouse(tmp_path):
    proc = kequn("report", "--db", str(tmp_path / "nope.duckdb"), check=False)
    assert proc.returncode == 2
    assert f"no warehouse at {tmp_path / 'nope.duckdb'}" in proc.stderr


def test_no_cjk_font_is_a_clear_error():
    from kequn.segment_report import ReportError, configure_cjk_font

    with pytest.raises(ReportError, match="fonts-noto-cjk"):
        configure_cjk_font(families=("No Such CJK Font",))
    assert configure_cjk_font() in ("Noto Sans CJK SC", "Noto Sans CJK JP", "Noto Serif CJK SC")


def test_data_docs_cdn_tags_point_at_local_copies():
    page = (
        '<link rel="shortcut icon" href="../../../../static/images/favicon.ico"/>'
        '<img src="https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/'
        'logo-long.png?d=1"><div style="background: url(\'https://great-expectations-web-'
        'assets.s3.us-east-2.amazonaws.com/full_logo_dark.png\')"></div>'
        '<script src="https://code.jquery.com/jquery-3.7.1.min.js" integrity="sha384-x" '
        'crossorigin="anonymous"></script><a href="https://greatexpectations.io">GX</a>')
    assert len(external_requests(page)) == 3
    out = localise_page(page, "../../../../..", {"logo-long.png", "favicon.ico"})
    assert external_requests(out) == []
    assert 'href="../../../../../static/images/favicon.ico"' in out
    assert 'src="../../../../../static/images/logo-long.png"' in out
    # GX's bucket image not shipped with the site falls back to the shipped logo
    assert "url('../../../../../static/images/logo-long.png')" in out
    assert ('<script src="../../../../../static/vendor/jquery/dist/jquery.min.js"></script>'
            in out)
    assert '<a href="https://greatexpectations.io">' in out   # a link, not a request
    unknown = '<script src="https://cdn.example.org/new-asset.js"></script>'
    assert external_requests(localise_page(unknown, ".", set())) == [
        "https://cdn.example.org/new-asset.js"]
