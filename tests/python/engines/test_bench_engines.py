"""`kequn bench --target duckdb,postgres` end to end on a tiny extract, on the real private
cluster: each engine measured in full and nightly from the same extract, and the side-by-side
file made of those figures. Speed is never asserted: only that the harness measured what it
says it measured."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import isolated_env, kequn

from kequn.bench import GIB
from kequn.engines import postgres

SCALE = "0.002"


@pytest.fixture(scope="module")
def engines_run(pg_env: dict[str, str], tmp_path_factory) -> tuple[Path, dict]:
    tmp = tmp_path_factory.mktemp("bench_engines")
    out = tmp / "results"
    kequn("bench", "--scale", SCALE, "--target", "duckdb,postgres", "--work", str(tmp / "work"),
          "--out", str(out), "--memory-limit", "2GB", env={**pg_env, **isolated_env(tmp)},
          timeout=3600)
    return out, json.loads((out / f"engines-{SCALE}.json").read_text(encoding="utf-8"))


def test_each_engine_built_full_and_nightly(engines_run: tuple[Path, dict],
                                           pg_env: dict[str, str]) -> None:
    out, side = engines_run
    duck = json.loads((out / f"scale-{SCALE}.json").read_text(encoding="utf-8"))
    pg = json.loads((out / f"scale-{SCALE}-postgres.json").read_text(encoding="utf-8"))
    assert (duck["engine"], pg["engine"]) == ("duckdb", "postgres")
    for result in (duck, pg):
        assert result["ok"], result["failed_steps"] + result["skipped_steps"]
    # Postgres' stages are its own build's (load ... publish), its size the database's
    assert list(pg["steps"]["full"]["build"]["stages"]) == [
        "load", "dbt typing", "raw gate", "dbt build", "marts gate", "publish"]
    assert pg["sizes"]["postgres_after_full_bytes"] > 0
    # the nightly build loaded only the new day's files, in a second load batch
    env = {**pg_env, "KEQUN_PG_DATABASE": "kequn_bench_" + SCALE.replace(".", "_")}
    batches = postgres.query(env, "select batch_id, count(*) from raw._files "
                                  "group by 1 order by 1")
    assert [b for b, _ in batches] == [1, 2]
    assert 0 < batches[1][1] < batches[0][1]


def test_side_by_side_is_made_of_the_result_files(engines_run: tuple[Path, dict]) -> None:
    out, side = engines_run
    by_engine = {r["engine"]: r for r in side["engines"]}
    assert set(by_engine) == {"duckdb", "postgres"}
    pg = json.loads((out / f"scale-{SCALE}-postgres.json").read_text(encoding="utf-8"))
    duck = json.loads((out / f"scale-{SCALE}.json").read_text(encoding="utf-8"))
    for step in ("full", "nightly"):
        p, d = pg["steps"][step], duck["steps"][step]
        assert by_engine["postgres"][step]["wall_s"] == p["wall_s"]
        # the server's work is outside `kequn build`'s process tree: counted in its CPU
        assert p["server_cpu_s"] > 0 and d["server_cpu_s"] is None
        assert by_engine["postgres"][step]["cpu_s"] == round(p["cpu_s"] + p["server_cpu_s"], 1)
        assert by_engine["duckdb"][step]["cpu_s"] == round(d["cpu_s"], 1)
        assert by_engine["postgres"][step]["peak_gib"] == round(p["peak_rss_bytes"] / GIB, 2)
        assert by_engine["postgres"][f"{step}_wall_over_duckdb"] == round(
            p["wall_s"] / d["wall_s"], 2)
    assert (out / f"engines-{SCALE}.png").stat().st_size > 10_000


def test_an_engine_not_ready_is_refused() -> None:
    proc = kequn("bench", "--scale", SCALE, "--target", "duckdb,spark", check=False)
    assert proc.returncode == 2
    assert "--target spark: not available yet" in proc.stderr
