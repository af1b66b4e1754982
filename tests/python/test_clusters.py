"""Behavioural clusters end to end: real `kequn build`s of a generated extract.

- determinism: the same warehouse refitted from scratch (no previous fit) gives the same
  k, centroids, model version and assignments, to the bit;
- stability: after `kequn generate --append-day` and a nightly build, the ids carry over
  (each new centroid matched to a previous one, close to it) and clients mostly keep theirs;
- tiny warehouses (the hand-written fixture): k_max clamped, said so, everyone assigned.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from conftest import isolated_env, kequn

from kequn import PROJECT_DIR
from kequn.clusters_report import cluster_section
from kequn.state import working_db

SCALE = "0.02"
CLUSTER_MODELS = ["path:models/intermediate/clusters", "path:models/marts/clusters",
                  "path:tests/clusters"]


def _read(db: Path) -> dict:
    con = duckdb.connect(str(db), read_only=True)
    try:
        current = con.execute("select max(as_of_date) from marts.behaviour_cluster_profiles"
                              ).fetchall()[0][0]
        return {
            "as_of_date": current,
            "assignments": {r[0]: (r[1], r[2]) for r in con.execute(
                "select client_id, cluster_id, distance from marts.client_behaviour_clusters "
                "where as_of_date = ?", [current]).fetchall()},
            "as_of_dates": [r[0] for r in con.execute(
                "select distinct as_of_date from marts.client_behaviour_clusters order by 1"
            ).fetchall()],
            "profiles": con.execute(
                "select cluster_id, clients, k, criterion_value, is_new_cluster, "
                "previous_cluster_distance, model_version, profile_zh, profile_en, fit_note "
                "from marts.behaviour_cluster_profiles order by cluster_id").fetchall(),
            "centroids": con.execute(
                "select cluster_id, feature_name, centroid_z from "
                "marts.behaviour_cluster_centroids order by 1, 2").fetchall(),
            "segment_clients": con.execute(
                "select count(*) from marts.client_segments where lifecycle_stage <> 'closed'"
            ).fetchall()[0][0],
        }
    finally:
        con.close()


def _refit_from_scratch(db: Path, tmp: Path, dbt_vars: str | None = None) -> None:
    """Drop the stored fit (as a first build has none) and rebuild the cluster models only,
    with real dbt on the copied warehouse."""
    con = duckdb.connect(str(db))
    try:
        con.execute("drop table intermediate.int_behaviour_clusters_fitted")
    finally:
        con.close()
    env = {**os.environ, **isolated_env(tmp), "DO_NOT_TRACK": "1", "KEQUN_DB": str(db),
           "KEQUN_TEMP_DIR": str(tmp / "tmp"), "KEQUN_LANDING_DIR": str(tmp / "no-landing")}
    dbt = Path(sys.executable).with_name("dbt")
    proc = subprocess.run(
        [str(dbt), "build", "--select", *CLUSTER_MODELS, "--project-dir", str(PROJECT_DIR),
         "--profiles-dir", str(PROJECT_DIR), *(["--vars", dbt_vars] if dbt_vars else [])],
        cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> dict:
    """Build once, then refit a copy from scratch, then append a day and build nightly."""
    tmp = tmp_path_factory.mktemp("clusters")
    raw, db = tmp / "raw", tmp / "wh" / "kequn.duckdb"
    env = {**isolated_env(tmp), "KEQUN_MEMORY_LIMIT": os.environ.get("KEQUN_MEMORY_LIMIT",
                                                                     "3GB")}
    kequn("generate", "--scale", SCALE, "--out", str(raw), env=env)
    kequn("build", "--raw-dir", str(raw), "--db", str(db), env=env)
    first = _read(db)

    copy = tmp / "refit" / "kequn.duckdb"
    copy.parent.mkdir()
    shutil.copy2(working_db(db), copy)   # the whole warehouse, staging included
    _refit_from_scratch(copy, tmp / "refit")
    refit = _read(copy)

    kequn("generate", "--append-day", "--out", str(raw), env=env)
    kequn("build", "--raw-dir", str(raw), "--db", str(db), env=env)
    return {"first": first, "refit": refit, "nightly": _read(db), "db": db}


def test_every_clustered_client_assigned_once(generated):
    first = generated["first"]
    assert len(first["assignments"]) == first["segment_clients"] > 0
    sizes = sum(p[1] for p in first["profiles"])
    assert sizes == len(first["assignments"])
    k = first["profiles"][0][2]
    assert len(first["profiles"]) == k
    assert 3 <= k <= 8
    assert all(p[3] is not None and -1 <= p[3] <= 1 for p in first["profiles"])
    assert all(p[7] and p[8] for p in first["profiles"]), "every cluster has a zh/en profile"


def test_same_input_gives_identical_fit_and_assignments(generated):
    first, refit = generated["first"], generated["refit"]
    assert refit["assignments"] == first["assignments"]
    assert refit["centroids"] == first["centroids"]
    # same model version, k and criterion; is_new_cluster is true in both (no previous fit)
    assert [p[:4] + p[6:] for p in refit["profiles"]] == [p[:4] + p[6:]
                                                           for p in first["profiles"]]


def test_cluster_ids_stable_after_an_appended_day(generated):
    first, nightly = generated["first"], generated["nightly"]
    assert nightly["as_of_date"] > first["as_of_date"]
    # first build: every cluster new; nightly: every previous id is matched when k is kept
    assert all(p[4] for p in first["profiles"])
    prev_ids = {p[0] for p in first["profiles"]}
    matched = {p[0]: p[5] for p in nightly["profiles"] if not p[4]}
    assert matched, "no cluster of the nightly build was matched to the previous build's"
    assert set(matched) <= prev_ids
    if nightly["profiles"][0][2] == first["profiles"][0][2]:
        assert set(matched) == prev_ids
    assert max(matched.values()) < 0.5, f"matched centroids moved far: {matched}"
    both = first["assignments"].keys() & nightly["assignments"].keys()
    assert len(both) >= 0.95 * len(first["assignments"])
    kept = sum(first["assignments"][c][0] == nightly["assignments"][c][0] for c in both)
    assert kept / len(both) >= 0.9, f"only {kept} of {len(both)} clients kept their cluster id"
    # one as-of date per month: the nightly row replaced the previous day's in its month
    months = [(d.year, d.month) for d in nightly["as_of_dates"]]
    assert len(months) == len(set(months))
    assert nightly["as_of_date"] in nightly["as_of_dates"]


def test_report_section_shows_every_profile(generated):
    con = duckdb.connect(str(generated["db"]), read_only=True)
    try:
        fragment = cluster_section(con)
    finally:
        con.close()
    for profile in generated["nightly"]["profiles"]:
        assert f"<b>{profile[7]}</b>" in fragment
    assert fragment.count("data:image/png;base64,") == 3   # k chart, two cross-tabs
    empty = duckdb.connect(":memory:")
    assert "No cluster marts" in cluster_section(empty)
    empty.close()


def test_tiny_warehouse_clamps_k(handwritten_build, tmp_path):
    """The hand-written fixture has a few dozen clients: ask for more clusters than that."""
    copy = tmp_path / "kequn.duckdb"
    shutil.copy2(working_db(handwritten_build), copy)
    _refit_from_scratch(copy, tmp_path, "{cluster_k_min: 3, cluster_k_max: 500}")
    got = _read(copy)
    n = len(got["assignments"])
    assert n == got["segment_clients"] > 0
    k, note = got["profiles"][0][2], got["profiles"][0][9]
    assert len(got["profiles"]) == k
    assert 1 <= k < n
    assert note and note.startswith("k_max clamped from 500 to "), note
