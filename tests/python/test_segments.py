"""End-to-end checks of the segmentation marts on the hand-written segments fixture.

Every expected value below was written by hand from docs/segmentation.md and the
fixture's design (tests/fixtures/segments_extract/README.md), never copied from output. The
as-of date is the fixture's latest snapshot, 2025-11-28.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import duckdb
import pytest
from conftest import FIXTURES, isolated_env, kequn

from kequn import PROJECT_DIR
from kequn.state import working_db

EXTRACT = FIXTURES / "segments_extract"
pytestmark = pytest.mark.slow
AS_OF = "2025-11-28"

# client: (age, age_band, asset_tier, trading_frequency, lifecycle_stage, primary_group,
#          group_codes, needs_risk_assessment, churn_risk_level)
EXPECTED: dict[str, tuple] = {
    # ages on and around the 60th / 70th birthday (birthday on 11-28 vs 11-29)
    "S01": (60, "60_69", "10k_100k", "low", "active", "silver_active", "silver_active", False,
            "low"),
    "S02": (59, "45_59", "10k_100k", "low", "active", "mass", "", False, "low"),
    "S03": (69, "60_69", "10k_100k", "low", "active", "silver_active", "silver_active", False,
            "low"),
    "S04": (70, "70_plus", "10k_100k", "low", "active", "mass", "", False, "low"),
    # birth years 1994 / 1995 / 2009 / 2010 around gen_z; college needs age 17-26
    "S05": (30, "25_34", "10k_100k", "low", "active", "mass", "", False, "low"),
    "S06": (30, "25_34", "10k_100k", "low", "active", "gen_z", "gen_z", False, "low"),
    "S07": (15, "unknown", "10k_100k", "low", "active", "gen_z", "gen_z", False, "low"),
    "S08": (15, "unknown", "10k_100k", "low", "active", "mass", "", False, "low"),
    "S09": (20, "18_24", "10k_100k", "low", "active", "college_student", "college_student,gen_z",
            False, "low"),
    # asset tiers at 9,999.99 / 10,000 / 999,999.99 / 1,000,000
    "S10": (40, "35_44", "lt_10k", "low", "active", "mass", "", False, "low"),
    "S11": (40, "35_44", "10k_100k", "low", "active", "mass", "", False, "low"),
    "S12": (40, "35_44", "500k_1m", "low", "active", "mass", "", False, "low"),
    "S13": (40, "35_44", "1m_6m", "low", "active", "mass", "", False, "low"),
    # 5 filled trades (+1 cancelled) vs 6 filled trades in 90 days
    "S14": (40, "35_44", "10k_100k", "low", "active", "mass", "", False, "low"),
    "S15": (40, "35_44", "10k_100k", "medium", "active", "mass", "", False, "low"),
    # lifecycle: closed by status; closed because every account closed (a stray balance on
    # the closed account does not count); churned; zombie at 31 days; new at 30 days; dormant
    "S16": (40, "35_44", "lt_10k", "none", "closed", "mass", "", False, None),
    "S17": (40, "35_44", "lt_10k", "none", "closed", "mass", "", False, None),
    "S18": (40, "35_44", "lt_10k", "none", "churned", "mass", "", False, None),
    "S19": (40, "35_44", "lt_10k", "none", "zombie", "mass", "", False, "low"),
    "S20": (40, "35_44", "lt_10k", "none", "new", "mass", "", False, "low"),
    "S21": (40, "35_44", "10k_100k", "none", "dormant", "mass", "", False, "low"),
    # risk assessment 730 days old (valid), 731 days (expired), missing
    "S22": (40, "35_44", "10k_100k", "low", "active", "mass", "", False, "low"),
    "S23": (40, "35_44", "10k_100k", "low", "active", "mass", "", True, "low"),
    "S24": (40, "35_44", "10k_100k", "low", "active", "mass", "", True, "low"),
    # tech executives: executive at a semiconductor firm (also an independent woman); VP at a
    # STAR-listed employer; "Project Coordinator" is not a COO; Chinese title at an AI firm;
    # restricted STAR shares; a CFO at a main-board finance firm is not one
    "S25": (40, "35_44", "10k_100k", "low", "active", "tech_executive",
            "tech_executive,independent_woman", False, "low"),
    "S26": (45, "45_59", "10k_100k", "low", "active", "tech_executive", "tech_executive", False,
            "low"),
    "S27": (40, "35_44", "10k_100k", "low", "active", "mass", "", False, "low"),
    "S28": (40, "35_44", "10k_100k", "low", "active", "tech_executive", "tech_executive", False,
            "low"),
    "S29": (40, "35_44", "100k_500k", "low", "active", "tech_executive", "tech_executive", False,
            "low"),
    "S30": (50, "45_59", "10k_100k", "low", "active", "mass", "", False, "low"),
    # SME owners (企业主 in Chinese); a 62-year-old self-employed woman is also silver
    "S31": (45, "45_59", "100k_500k", "low", "active", "sme_owner", "sme_owner", False, "low"),
    "S32": (62, "60_69", "10k_100k", "low", "active", "sme_owner", "sme_owner,silver_active",
            False, "low"),
    # full-time moms: children=2 (女 / 全职家庭主妇); no child; child year only at 54; 55 is out
    "S33": (34, "25_34", "10k_100k", "low", "active", "full_time_mom", "full_time_mom", False,
            "low"),
    "S34": (35, "35_44", "10k_100k", "low", "active", "mass", "", False, "low"),
    "S35": (54, "45_59", "10k_100k", "low", "active", "full_time_mom", "full_time_mom", False,
            "low"),
    "S36": (55, "45_59", "10k_100k", "low", "active", "mass", "", False, "low"),
    # independent woman turning 25 today (also gen_z); a 24-year-old is gen_z only
    "S37": (25, "25_34", "10k_100k", "low", "active", "independent_woman",
            "independent_woman,gen_z", False, "low"),
    "S38": (24, "18_24", "10k_100k", "low", "active", "gen_z", "gen_z", False, "low"),
    # S39 institution and S40 test client are not segmented
    # S41 became a business owner in a CDC version of 2025-11-01
    "S41": (40, "35_44", "10k_100k", "low", "active", "sme_owner", "sme_owner", False, "low"),
    # unknown birth date and gender
    "S42": (None, "unknown", "10k_100k", "low", "active", "mass", "", False, "low"),
    # churn: assets 100k -> 20k, 80k out, 9 trades and 30 logins in the baseline, none since
    "S43": (40, "35_44", "10k_100k", "medium", "active", "mass", "", False, "high"),
    # churn: assets 10k -> 4k only (a cancelled October trade does not count)
    "S44": (40, "35_44", "lt_10k", "low", "active", "mass", "", False, "medium"),
}

COLUMNS = ("age", "age_band", "asset_tier", "trading_frequency", "lifecycle_stage",
           "primary_group", "group_codes", "needs_risk_assessment", "churn_risk_level")


def _build(raw: Path, tmp: Path, cwd: Path | None = None) -> Path:
    db = tmp / "kequn.duckdb"
    if cwd is None:
        kequn("build", "--raw-dir", str(raw), "--db", str(db), env=isolated_env(tmp))
    else:  # a copy of the project: run its own package so PROJECT_DIR is the copy
        env = {**isolated_env(tmp), "DO_NOT_TRACK": "1", "PYTHONPATH": str(cwd)}
        proc = subprocess.run([sys.executable, "-m", "kequn.cli", "build", "--raw-dir", str(raw),
                               "--db", str(db)], cwd=cwd, env={**_environ(), **env},
                              capture_output=True, text=True, timeout=1800)
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return db


def _land_and_run_dbt(raw: Path, tmp: Path) -> Path:
    """Land the extract and run `dbt build` only (no gates, no publish): the warehouse the
    dbt models make, for comparisons that are about the models alone."""
    db, landing = tmp / "kequn.duckdb", tmp / "landing"
    kequn("land", "--raw-dir", str(raw), "--landing-dir", str(landing), env=isolated_env(tmp))
    env = {**_environ(), **isolated_env(tmp), "DO_NOT_TRACK": "1", "KEQUN_DB": str(db),
           "KEQUN_LANDING_DIR": str(landing), "KEQUN_TEMP_DIR": str(tmp / "tmp")}
    dbt = Path(sys.executable).parent / "dbt"
    proc = subprocess.run([str(dbt), "build", "--project-dir", str(PROJECT_DIR), "--profiles-dir",
                           str(PROJECT_DIR)], cwd=PROJECT_DIR, env=env, capture_output=True,
                          text=True, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    return db


def _environ() -> dict[str, str]:
    import os

    return dict(os.environ)


def _query(db: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


@pytest.fixture(scope="module")
def segments_build(tmp_path_factory) -> Path:
    return _build(EXTRACT, tmp_path_factory.mktemp("segments"))


def test_every_client_gets_the_segments_the_spec_implies(segments_build):
    rows = _query(segments_build,
                  f"select client_id, {', '.join(COLUMNS)} from marts.client_segments")
    actual = {r[0]: tuple(r[1:]) for r in rows}
    assert set(actual) == set(EXPECTED), "individual clients only, each exactly once"
    wrong = {c: (actual[c], EXPECTED[c]) for c in EXPECTED if actual[c] != EXPECTED[c]}
    assert not wrong, "\n".join(f"{c}: got {a}\n     want {e}" for c, (a, e) in wrong.items())


def test_every_row_carries_the_as_of_date_and_one_rule_version(segments_build):
    rows = _query(segments_build,
                  "select distinct as_of_date, rule_version from marts.client_segments")
    assert len(rows) == 1
    assert str(rows[0][0]) == AS_OF
    assert rows[0][1].startswith("r") and len(rows[0][1]) == 13


def test_total_assets_convert_fx_and_unknown_products(segments_build):
    rows = dict(_query(segments_build, "select client_id, total_assets from marts.client_segments "
                                       "where client_id in ('S26', 'S29', 'S31', 'S17')"))
    # S26: cash 50,000 + 1,000 HKD at 0.92 (rate of 11-27, latest on or before 11-28) + 500 of
    # an unknown product taken as CNY; S29: 10,000 + 300,000 restricted; S17: closed account.
    assert float(rows["S26"]) == pytest.approx(51420.00)
    assert float(rows["S29"]) == pytest.approx(310000.00)
    assert float(rows["S31"]) == pytest.approx(110000.00)
    assert float(rows["S17"]) == 0


def test_memberships_carry_their_evidence(segments_build):
    rows = {(c, g): (p, e) for c, g, p, e in _query(
        segments_build, "select client_id, group_code, is_primary, evidence "
                        "from marts.client_group_memberships")}
    assert rows[("S01", "silver_active")] == (True, "age=60")
    assert rows[("S33", "full_time_mom")] == (
        True, "occupation=homemaker; gender=F; age=34; children=2")
    assert rows[("S35", "full_time_mom")][1].endswith("youngest_child_birth_year=2020")
    assert rows[("S26", "tech_executive")][1] == "job_title=VP Engineering; employer_board=star"
    assert rows[("S29", "tech_executive")][1] == "restricted_shares=star:300000.00"
    assert rows[("S25", "independent_woman")][0] is False
    assert rows[("S02", "mass")] == (True, "groups_matched=none")


def test_churn_reasons_list_the_signals(segments_build):
    reasons = dict(_query(segments_build,
                          "select client_id, churn_reasons from marts.client_segments "
                          "where client_id in ('S43', 'S21', 'S18')"))
    assert [r.split("(")[0] for r in reasons["S43"].split("; ")] == [
        "assets_fell", "net_outflow", "trading_fell", "logins_fell"]
    assert reasons["S21"] == "no_recent_trade(days_since_last_trade=241)"
    assert reasons["S18"] is None  # churned clients are not scored


def test_recommendations_respect_suitability(segments_build):
    recs = _query(segments_build, "select client_id, product_code, risk_rating, rank "
                                  "from marts.client_product_recommendations "
                                  "where client_id in ('S22', 'S23', 'S24') order by 1, 4")
    # mass playbook: money_market_fund, etf. S22 (C4, assessed 730 days ago) may buy up to R4;
    # S23 (assessment 731 days old) and S24 (never assessed) R1 only.
    assert [(c, p, r, k) for c, p, r, k in recs if c == "S22"] == [
        ("S22", "000001.OF", "R1", 1), ("S22", "159915.SZ", "R4", 2),
        ("S22", "000002.OF", "R1", 3), ("S22", "510300.SH", "R3", 4)]
    for client in ("S23", "S24"):
        assert [(p, r) for c, p, r, _ in recs if c == client] == [
            ("000001.OF", "R1"), ("000002.OF", "R1")]


def test_group_summary_counts_migrations(segments_build):
    rows = {(str(m), g): (c, j, lft) for m, g, c, j, lft in _query(
        segments_build, "select month_end, group_code, clients, joined_clients, left_clients "
                        "from marts.group_monthly_summary")}
    # S41 moved from mass (2025-10-31) to sme_owner (2025-11-28). S01 turned 60 and S04 turned
    # 70 on 11-28: silver_active gained S01 and lost S04 (S03 is 69 at both dates, S32 62).
    assert rows[(AS_OF, "sme_owner")] == (3, 1, 0)
    assert rows[(AS_OF, "silver_active")] == (3, 1, 1)
    assert rows[("2025-10-31", "silver_active")] == (3, 0, 0)
    assert rows[("2025-10-31", "sme_owner")] == (2, 0, 0)


def test_past_month_ends_do_not_change_when_later_data_arrives(segments_build, tmp_path):
    """Point in time: month-end rows built without the November deliveries equal the rows
    built with them (later trades, transfers, logins, snapshots, a CDC version, a cancellation)."""
    early = tmp_path / "early_extract"
    shutil.copytree(EXTRACT, early)
    removed = [p for p in early.rglob("*.csv") if "2025-11-28" in p.name]
    assert len(removed) >= 5
    for p in removed:
        p.unlink()
    early_db = _land_and_run_dbt(early, tmp_path / "early")
    sql = ("select * exclude (rule_version) from marts.client_features_monthly "
           "where month_end <= date '2025-10-31' order by client_id, month_end")
    full_rows, early_rows = _query(segments_build, sql), _query(early_db, sql)
    assert len(full_rows) > 100
    assert full_rows == early_rows
    hist = ("select month_end, client_id, group_code, is_primary, evidence, lifecycle_stage, "
            "total_assets, is_churn_risk from marts.client_group_membership_history "
            "where month_end <= date '2025-10-31' order by 1, 2, 3")
    assert _query(segments_build, hist) == _query(early_db, hist)
    # the later data does change the current date: the test can fail
    assert _query(early_db, "select max(as_of_date) from marts.client_segments")[0][0].isoformat() \
        == "2025-10-31"


def _tree_digest(root: Path, suffix: str) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((root / "models").rglob(f"*{suffix}"))}


def test_changing_a_rule_seed_changes_assignments_and_rule_version(segments_build, tmp_path):
    """Operations edit seeds/rules only: silver_active from 60-69 to 59-69 makes S02 (59) silver."""
    copy = tmp_path / "project"
    shutil.copytree(PROJECT_DIR, copy, symlinks=True, ignore=shutil.ignore_patterns(
        ".git", ".venv", "target", "logs", "warehouse", "*.duckdb", ".pytest_cache", "__pycache__"))
    seed = copy / "seeds" / "rules" / "rule_groups.csv"
    text = seed.read_text(encoding="utf-8")
    assert "silver_active,初老银发,3,false,,60,69," in text
    seed.write_text(text.replace("silver_active,初老银发,3,false,,60,69,",
                                 "silver_active,初老银发,3,false,,59,69,"), encoding="utf-8")
    assert _tree_digest(copy, ".sql") == _tree_digest(PROJECT_DIR, ".sql"), "no SQL edited"
    db = _build(EXTRACT, tmp_path / "build", cwd=copy)
    sql = "select client_id, primary_group, group_codes, rule_version from marts.client_segments"
    before = {r[0]: r[1:] for r in _query(segments_build, sql)}
    after = {r[0]: r[1:] for r in _query(db, sql)}
    changed = {c for c in before if before[c][:2] != after[c][:2]}
    assert changed == {"S02"}
    assert after["S02"][:2] == ("silver_active", "silver_active")
    assert {v[2] for v in before.values()} != {v[2] for v in after.values()}
    assert len({v[2] for v in after.values()}) == 1


def test_a_past_as_of_date_is_gated_on_the_risk_levels_valid_then(tmp_path):
    """`kequn build --as-of D` on an extract holding later re-assessments: suitability is
    judged (dbt and the marts gate alike) by each client's risk level on D, not the latest."""
    raw = tmp_path / "raw"
    kequn("generate", "--scale", "0.01", "--out", str(raw), "--no-progress",
          env=isolated_env(tmp_path))
    db = tmp_path / "kequn.duckdb"
    kequn("build", "--raw-dir", str(raw), "--db", str(db), "--as-of", "2025-10-29",
          env=isolated_env(tmp_path))
    # the case is there: recommended clients whose risk level changed after the as-of date
    (changed,) = _query(working_db(db), """
        with at_as_of as (
            select c.client_id, c.risk_level
            from staging.stg_brokerage__clients as c
            where cast(c.updated_at as date) <= date '2025-10-29'
                and (c.valid_to is null or cast(c.valid_to as date) > date '2025-10-29')
        )
        select count(distinct r.client_id)
        from marts.client_product_recommendations as r
        inner join at_as_of as a using (client_id)
        inner join staging.stg_brokerage__clients as cur
            on r.client_id = cur.client_id and cur.is_current_version
        where a.risk_level is distinct from cur.risk_level""")[0]
    assert changed > 0, "no client re-assessed after the as-of date: the test proves nothing"
    assert _query(db, "select distinct as_of_date from marts.client_segments") == [
        (date(2025, 10, 29),)]
