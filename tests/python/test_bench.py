"""`kequn bench` end to end on tiny extracts: every step measured, figures consistent.

One run of `kequn bench --series 0.002,0.005` (two real scales, each generated, built in
full and nightly) serves every test: the per-scale result files are those `--scale` writes.
Speed is never asserted here: only that the harness measured what it says it measured.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import sys

import duckdb
import pytest
from conftest import isolated_env, kequn

from kequn.bench import PEAK_TARGET, PIPELINE_STEPS, dbt_summary, extract_scale
from kequn.bench_series import loglog_slope, parse_series
from kequn.state import working_db

pytestmark = pytest.mark.slow

SCALE = "0.002"
SERIES = ["0.002", "0.005"]


@pytest.fixture(scope="module")
def series_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bench")
    out = tmp / "results"
    proc = kequn("bench", "--series", ",".join(SERIES), "--work", str(tmp / "work"),
                 "--out", str(out), "--memory-limit", "2GB", env=isolated_env(tmp))
    series = json.loads((out / f"series-{'_'.join(SERIES)}.json").read_text(encoding="utf-8"))
    return proc, series, out, tmp


@pytest.fixture(scope="module")
def bench_run(series_run):
    """The scale-0.002 measurement of the series, with its own work folder."""
    proc, _, out, tmp = series_run
    result = json.loads((out / f"scale-{SCALE}.json").read_text(encoding="utf-8"))
    return proc, result, out, tmp / "work" / f"scale-{SCALE}"


def test_every_step_measured(bench_run):
    _, result, _, _ = bench_run
    assert result["ok"] is True
    assert result["failed_steps"] == [] and result["skipped_steps"] == []
    assert list(result["steps"]) == ["generate", "limit", "full", "append_day", "nightly"]
    for name, step in result["steps"].items():
        assert step["status"] == "ok", name
        assert step["wall_s"] > 0, name
        assert step["cpu_s"] > 0, name
        assert step["peak_rss_bytes"] > 0, name
        assert step["rss_samples"] >= 1, name


def test_ratios_come_from_the_step_figures(bench_run):
    _, result, _, _ = bench_run
    steps, ratios = result["steps"], result["ratios"]
    for key, num, den, field in [
        ("full_over_limit_wall", "full", "limit", "wall_s"),
        ("full_over_limit_cpu", "full", "limit", "cpu_s"),
        ("nightly_over_full_wall", "nightly", "full", "wall_s"),
        ("nightly_over_full_cpu", "nightly", "full", "cpu_s"),
    ]:
        expected = steps[num][field] / steps[den][field]
        assert math.isclose(ratios[key], expected, rel_tol=1e-3), key
    gates = sum(v for k, v in steps["full"]["build"]["stages"].items() if "gate" in k)
    assert gates > 0
    assert math.isclose(ratios["gates_over_full_wall"], gates / steps["full"]["wall_s"],
                        rel_tol=1e-3)
    by_name = {t["target"]: t for t in result["targets"]}
    assert by_name["full build wall <= 3x limit"]["measured"] == ratios["full_over_limit_wall"]
    assert by_name["full build wall <= 5x limit"]["measured"] == ratios["full_over_limit_wall"]
    assert by_name["nightly wall <= 5% of full"]["measured"] == ratios["nightly_over_full_wall"]
    assert by_name["gates <= 10% of full build"]["measured"] == ratios["gates_over_full_wall"]
    assert not any(t["at_target_scale"] for t in result["targets"])  # none is for 0.002
    peak = max(steps[s]["peak_rss_bytes"] for s in PIPELINE_STEPS)
    assert by_name[PEAK_TARGET]["measured"] == peak


def test_facts_sizes_and_models_recorded(bench_run):
    _, result, _, work = bench_run
    assert result["scale"] == float(SCALE)
    machine = result["machine"]
    assert machine["cores_logical"] >= 1 and machine["memory_bytes"] > 0
    assert all(result["versions"][d] for d in ("duckdb", "dbt-core", "dbt-duckdb"))
    raw = result["raw"]
    assert raw["reused"] is False and raw["bytes"] > 0 and raw["rows"] > 0
    assert {"clients", "accounts", "trades", "holdings"} <= set(raw["tables"])
    assert all(t["rows"] >= 0 for t in raw["tables"].values())
    assert raw["tables"]["clients"]["rows"] > 0
    assert result["sizes"]["duckdb_after_full_bytes"] > 0
    assert result["sizes"]["duckdb_after_nightly_bytes"] > 0
    top = result["dbt"]["full"]["top_models"]
    assert 0 < len(top) <= 10
    assert [m["seconds"] for m in top] == sorted((m["seconds"] for m in top), reverse=True)
    # dbt's artefacts came from the work folder, never from the project's target/.
    kept = result["dbt"]["full"]["run_results"]
    assert kept.startswith(str(work)) and (work / "run_results.full.json").exists()


def test_plot_written(bench_run):
    _, _, out, _ = bench_run
    png = out / f"scale-{SCALE}.png"
    assert png.stat().st_size > 10_000
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_progress_and_summary_printed(bench_run):
    proc, _, _, _ = bench_run
    for name in ("generate", "limit", "full", "append_day", "nightly"):
        assert f" {name} " in proc.stdout
    assert "full / limit" in proc.stdout and "nightly / full" in proc.stdout


def test_extract_stays_reusable_at_its_scale(bench_run):
    """The nightly day lands on a snapshot: the extract stays reusable at its scale."""
    _, result, _, work = bench_run
    raw = work / "raw"
    assert extract_scale(raw) == float(SCALE)
    nightly = work / "raw-nightly"
    original = {p.relative_to(raw) for p in raw.rglob("*") if p.is_file()}
    snapshot = {p.relative_to(nightly) for p in nightly.rglob("*") if p.is_file()}
    assert original < snapshot, "the appended day must be in the snapshot only"
    assert result["notes"] == []


def test_failed_step_reported_with_its_stderr(tmp_path):
    """A build that breaks is named, with its stderr tail, and the exit code is non-zero."""
    raw = tmp_path / "raw"
    (raw / "clients").mkdir(parents=True)  # every other table folder is missing
    (raw / "clients" / "c.csv").write_text("client_id\nC1\n", encoding="utf-8")
    truth = tmp_path / "raw.truth"
    truth.mkdir()
    (truth / "meta.json").write_text(json.dumps({"scale": 0.001}), encoding="utf-8")
    out = tmp_path / "results"
    proc = kequn("bench", "--scale", "0.001", "--raw-dir", str(raw), "--work",
                 str(tmp_path / "work"), "--out", str(out), env=isolated_env(tmp_path),
                 check=False)
    assert proc.returncode == 1
    assert "step full failed" in proc.stderr
    assert "breaks the contract" in proc.stderr
    result = json.loads((out / "scale-0.001.json").read_text(encoding="utf-8"))
    assert result["ok"] is False
    assert result["steps"]["full"]["status"] == "failed"
    assert "breaks the contract" in result["steps"]["full"]["stderr_tail"]
    assert result["steps"]["nightly"]["status"] == "skipped"
    assert result["ratios"]["full_over_limit_wall"] is None
    assert (out / "scale-0.001.png").exists()


def test_mismatched_extract_is_refused(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    proc = kequn("bench", "--scale", "0.001", "--raw-dir", str(raw), "--work",
                 str(tmp_path / "work"), "--out", str(tmp_path / "out"),
                 env=isolated_env(tmp_path), check=False)
    assert proc.returncode == 2
    assert "no .truth/meta.json" in proc.stderr
    assert any(raw.iterdir()) is False, "a user's folder is never deleted or written"


def test_dbt_summary_orders_models(tmp_path):
    doc = {"elapsed_time": 3.0, "results": [
        {"unique_id": "model.kequn.a", "execution_time": 0.5, "status": "success",
         "adapter_response": {"rows_affected": 10}},
        {"unique_id": "model.kequn.b", "execution_time": 2.0, "status": "success",
         "adapter_response": {}},
        {"unique_id": "test.kequn.t1", "execution_time": 0.1, "status": "pass"},
    ]}
    path = tmp_path / "run_results.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    summary = dbt_summary(path)
    assert [m["model"] for m in summary["top_models"]] == ["b", "a"]
    assert summary["by_resource_type"]["model"] == {"count": 2, "seconds": 2.5}
    assert summary["by_resource_type"]["test"]["count"] == 1
    assert dbt_summary(tmp_path / "missing.json") is None


def test_duckdb_memory_and_spill_settings_are_set_once_at_connect() -> None:
    """dbt-duckdb re-runs the profile's `settings` as SET on every cursor, and DuckDB refuses
    a SET temp_directory once a query has spilled (the first scale-10 build failed so):
    the memory limit and temp directory belong to `config_options`, applied at connect."""
    import yaml

    from kequn import PROJECT_DIR

    profile = yaml.safe_load((PROJECT_DIR / "profiles.yml").read_text(encoding="utf-8"))
    duckdb_target = profile["kequn"]["outputs"]["duckdb"]
    per_cursor = set(duckdb_target.get("settings") or {})
    assert not per_cursor & {"temp_directory", "memory_limit"}, per_cursor
    assert {"temp_directory", "memory_limit"} <= set(duckdb_target["config_options"])


# --- the series (issue 9 item 7) ------------------------------------------------------------


def test_series_measured_every_scale_in_one_run(series_run):
    proc, series, out, _ = series_run
    assert series["scales"] == [float(s) for s in SERIES]
    assert series["exit_codes"] == {s: 0 for s in SERIES}
    for s in SERIES:
        assert (out / f"scale-{s}.json").exists() and f"=== scale {s} " in proc.stdout
    png = out / f"series-{'_'.join(SERIES)}.png"
    assert png.stat().st_size > 10_000 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_series_figures_come_from_the_scale_results(series_run):
    """Every value of the series is the step figure of that scale's result file, every
    slope the log-log slope of those figures against raw rows."""
    _, series, out, _ = series_run
    results = [json.loads((out / f"scale-{s}.json").read_text(encoding="utf-8"))
               for s in SERIES]
    a = series["analysis"]
    rows = [r["raw"]["rows"] for r in results]
    assert a["raw_rows"] == rows and rows[0] < rows[1]
    assert a["fit_scales"] == [float(s) for s in SERIES] and a["fit_is_1_to_10"] is False
    assert set(a["metrics"]) == {f"{st}.{f}" for st in PIPELINE_STEPS
                                 for f in ("wall_s", "cpu_s", "peak_rss_bytes")}
    for key, m in a["metrics"].items():
        step, field = key.split(".")
        values = [r["steps"][step][field] for r in results]
        assert m["values"] == values, key
        expected = math.log(values[1] / values[0]) / math.log(rows[1] / rows[0])
        assert math.isclose(m["successive"][0]["slope"], expected, abs_tol=1e-3), key
        assert math.isclose(m["fit"], expected, abs_tol=1e-3), key  # two points: the same


def test_series_targets_read_at_their_stated_scale(series_run):
    """Scales 10, 1 and 0.02 are not in this series: their targets are not measured, and
    the slope (not over 1..10) is reported without a verdict."""
    proc, series, _, _ = series_run
    targets = {t["target"]: t for t in series["analysis"]["targets"]}
    stated = [t for t in targets.values() if t["scale"] is not None]
    assert {t["scale"] for t in stated} == {10.0, 1.0, 0.02}
    assert all(t["measured"] is None and t["met"] is None for t in stated)
    slopes = [t for t in targets.values() if t["scale"] is None]
    assert len(slopes) == 2
    for t in slopes:
        assert t["measured"] is not None and t["met"] is None and t["limit"] == 1.05
    assert "target: scale 10: nightly wall <= 5% of full" in proc.stdout
    assert "fit over scales 0.002, 0.005" in proc.stdout


def test_a_series_rebuilt_from_its_result_files_is_the_same(series_run, tmp_path):
    """`python -m kequn.bench_series RESULT.json...` (a scale re-measured apart) gives the
    analysis the series run gave from the same result files, and its plot."""
    _, series, out, _ = series_run
    for s in SERIES:
        shutil.copy(out / f"scale-{s}.json", tmp_path / f"scale-{s}.json")
    proc = subprocess.run(
        [sys.executable, "-m", "kequn.bench_series",
         *(str(tmp_path / f"scale-{s}.json") for s in reversed(SERIES))],
        capture_output=True, text=True, check=True)
    again = json.loads((tmp_path / f"series-{'_'.join(SERIES)}.json").read_text(
        encoding="utf-8"))
    assert again["scales"] == series["scales"]
    assert again["analysis"] == series["analysis"]
    assert (tmp_path / f"series-{'_'.join(SERIES)}.png").read_bytes()[:4] == b"\x89PNG"
    assert "fit over scales 0.002, 0.005" in proc.stdout


def test_loglog_slope_and_series_parsing():
    assert loglog_slope([(10, 3 * 10**1.5), (1000, 3 * 1000**1.5), (1e5, 3 * 1e5**1.5)]) == 1.5
    assert loglog_slope([(1, 2), (10, 20)]) == 1.0
    assert loglog_slope([(1, 2)]) is None and loglog_slope([(5, 1), (5, 2)]) is None
    assert loglog_slope([(1, None), (10, 20)]) is None
    assert parse_series("10,1,0.1,3,1") == [0.1, 1.0, 3.0, 10.0]
    for bad in ("1", "0,1", "a,b", ""):
        with pytest.raises(ValueError):
            parse_series(bad)


# --- dbt's own overhead in a nightly build (issue 9 item 6) ---------------------------------


def _run_results(work, step: str) -> dict:
    doc = json.loads((work / f"run_results.{step}.json").read_text(encoding="utf-8"))
    return {r["unique_id"]: r for r in doc["results"]}


def test_unit_tests_run_in_full_builds_only(bench_run):
    """Unit tests test code: the full build ran every one, the nightly build none (its data
    tests still ran)."""
    _, _, _, work = bench_run
    kinds = {step: [uid.split(".", 1)[0] for uid in _run_results(work, step)]
             for step in ("full", "nightly")}
    assert kinds["full"].count("unit_test") >= 20
    assert kinds["nightly"].count("unit_test") == 0
    assert kinds["nightly"].count("test") > 100 and kinds["nightly"].count("model") > 50


def _compiled(results: dict, prefix: str) -> str:
    hits = [r for uid, r in results.items() if uid.startswith(prefix)]
    assert len(hits) == 1, (prefix, [r["unique_id"] for r in hits])
    return hits[0]["compiled_code"]


def test_nightly_data_tests_check_the_rebuilt_partitions(bench_run):
    """A nightly build's data tests on incremental models read the partitions holding the
    new batch's rows, computed independently here from the working database; a full
    build's read every row."""
    _, _, _, work = bench_run
    full, nightly = _run_results(work, "full"), _run_results(work, "nightly")
    # staging and the history marts' lineage live in the working database (publish.py)
    with duckdb.connect(str(working_db(work / "kequn.duckdb")), read_only=True) as con:
        batch = con.execute("select max(_batch_id) from staging.base_brokerage__holdings"
                            ).fetchone()[0]
        dates = [d.isoformat() for (d,) in con.execute(
            "select distinct snapshot_date from staging.stg_brokerage__holdings "
            "where _batch_id >= ? order by 1", [batch]).fetchall()]
        months = [d.isoformat() for (d,) in con.execute(
            "select distinct partition_month_end from marts.client_features_monthly "
            "where _batch_id >= ? order by 1", [batch]).fetchall()]
    assert batch == 2 and dates and months
    holdings = _compiled(nightly, "test.kequn.not_null_stg_brokerage__holdings_snapshot_date.")
    listed = re.findall(r"cast\('(\d{4}-\d{2}-\d{2})' as date\)", holdings)
    assert listed == dates and "snapshot_date in (" in holdings
    features = _compiled(
        nightly, "test.kequn.unique_combination_of_columns_client_features_monthly_")
    assert re.findall(r"cast\('(\d{4}-\d{2}-\d{2})' as date\)", features) == months
    base = _compiled(nightly, "test.kequn.unique_combination_of_columns_base_brokerage__trades_")
    assert f"where _batch_id >= {batch}" in base
    # a key whose versions sit on several dates: every row sharing a key with a rebuilt row
    trades = _compiled(nightly, "test.kequn.unique_stg_brokerage__trades_trade_id.")
    assert "trade_id in (select trade_id from (select * from" in trades
    # the reconciliation with dq_reconciliation's whole-table counts is never scoped
    orphans = _compiled(
        nightly, "test.kequn.orphans_are_counted_stg_brokerage__holdings_account_id")
    assert "dbt_subquery" not in orphans
    for uid, r in full.items():
        if uid.startswith("test."):
            assert "dbt_subquery" not in r["compiled_code"], uid
