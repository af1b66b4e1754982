"""`kequn bench` end to end on a tiny extract: every step measured, figures consistent.

Speed is never asserted here: only that the harness measured what it says it measured.
"""

from __future__ import annotations

import json
import math

import pytest
from conftest import isolated_env, kequn

from kequn.bench import PIPELINE_STEPS, dbt_summary, extract_scale

pytestmark = pytest.mark.slow

SCALE = "0.002"


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bench")
    out = tmp / "results"
    proc = kequn("bench", "--scale", SCALE, "--work", str(tmp / "work"), "--out", str(out),
                 "--memory-limit", "2GB", env=isolated_env(tmp))
    result = json.loads((out / f"scale-{SCALE}.json").read_text(encoding="utf-8"))
    return proc, result, out, tmp


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
    by_name = {t["target"]: t for t in result["targets"]}
    assert by_name["full build wall <= 3x limit"]["measured"] == ratios["full_over_limit_wall"]
    peak = max(steps[s]["peak_rss_bytes"] for s in PIPELINE_STEPS)
    assert by_name["peak memory <= 8 GiB (limit, full, nightly)"]["measured"] == peak


def test_facts_sizes_and_models_recorded(bench_run):
    _, result, _, tmp = bench_run
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
    assert kept.startswith(str(tmp / "work")) and (tmp / "work" / "run_results.full.json").exists()


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
    _, result, _, tmp = bench_run
    raw = tmp / "work" / "raw"
    assert extract_scale(raw) == float(SCALE)
    nightly = tmp / "work" / "raw-nightly"
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
