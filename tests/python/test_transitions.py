"""client_upcoming_transitions (临界客户) on a real build, checked against the future.

An extract generated up to EARLY is built, then 20 delivery days are appended up to LATE and
it is built again. Transitions predicted at EARLY that fall on or before LATE must have
happened at LATE where nothing but time decides them (ages; zombies that still never traded
and hold little), and every age-band change between the two builds must have been
predicted. The boundary cases of each rule are dbt unit tests
(models/marts/outreach/_outreach__models.yml, models/intermediate/outreach/).
"""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import duckdb
import pytest
import yaml
from conftest import isolated_env, kequn
from test_segments import _query

from kequn import PROJECT_DIR

EARLY, LATE = date(2025, 10, 31), date(2025, 11, 28)
APPENDED_DAYS = 20      # the weekdays from EARLY (a Friday) to LATE



def _late_and_early(two_builds: tuple[Path, Path], *queries: str) -> list[list[tuple]]:
    """Run queries on the LATE warehouse with the EARLY one attached as `early`."""
    early, late = two_builds
    con = duckdb.connect(str(late), read_only=True)
    try:
        con.execute(f"attach '{early}' as early (read_only)")
        return [con.execute(q).fetchall() for q in queries]
    finally:
        con.close()


@pytest.fixture(scope="module")
def two_builds(tmp_path_factory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("transitions")
    raw, db, env = tmp / "raw", tmp / "wh" / "kequn.duckdb", isolated_env(tmp)
    kequn("generate", "--scale", "0.02", "--seed", "5", "--out", str(raw), "--ref-date",
          EARLY.isoformat(), "--no-progress")
    kequn("build", "--raw-dir", str(raw), "--db", str(db), env=env)
    early = tmp / "early" / "kequn.duckdb"
    early.parent.mkdir()
    shutil.copy2(db, early)
    for _ in range(APPENDED_DAYS):
        kequn("generate", "--append-day", "--out", str(raw), "--no-progress")
    kequn("build", "--raw-dir", str(raw), "--db", str(db), env=env)
    assert _query(early, "select max(as_of_date) from marts.client_segments")[0][0] == EARLY
    assert _query(db, "select max(as_of_date) from marts.client_segments")[0][0] == LATE
    return early, db


def test_every_kind_appears_within_the_horizon(two_builds):
    early, _ = two_builds
    horizon = yaml.safe_load((PROJECT_DIR / "dbt_project.yml").read_text())["vars"]
    rows = _query(early, """
        select transition_kind, distance_unit, max(distance), max(distance / threshold_value),
               count(*), min(as_of_date), max(as_of_date)
        from marts.client_upcoming_transitions group by 1, 2""")
    kinds = {r[0] for r in rows}
    assert kinds == {"age_group", "age_band", "asset_tier", "lifecycle", "churn_level"}
    for kind, unit, longest, share, _, first, last in rows:
        assert first == last == EARLY
        if unit == "days":
            assert longest <= horizon["transition_horizon_days"], kind
        else:
            assert share <= horizon["transition_horizon_share"], kind


def test_thresholds_and_current_codes_come_from_the_warehouse(two_builds):
    early, _ = two_builds
    wrong = _query(early, """
        select t.client_id, t.transition_kind, t.target_code
        from marts.client_upcoming_transitions as t
        inner join marts.client_segments as s on t.client_id = s.client_id
        left join rules.rule_asset_tiers as tier on t.to_code = tier.tier_code
        left join rules.rule_churn_levels as lvl on t.to_code = lvl.level_code
        where (t.transition_kind = 'asset_tier' and (
                   t.from_code != s.asset_tier or t.current_value != s.total_assets
                   or t.threshold_value not in (tier.min_assets, tier.max_assets)))
           or (t.transition_kind = 'churn_level' and (
                   t.from_code != s.churn_risk_level or t.current_value != s.churn_risk_score
                   or t.threshold_value != lvl.min_score))
           or (t.transition_kind = 'lifecycle' and t.from_code != s.lifecycle_stage)
           or (t.transition_kind = 'age_band' and (
                   t.from_code != s.age_band or t.current_value != s.age))
           or (t.distance_unit = 'days'
               and t.expected_date != t.as_of_date + cast(t.distance as integer))
        limit 5""")
    assert wrong == []


def test_predicted_age_moves_happen(two_builds):
    predicted, unannounced = _late_and_early(two_builds, f"""
            select t.client_id, t.transition_kind, t.target_code, t.direction, s.age_band,
                   m.group_code is not null as is_member
            from early.marts.client_upcoming_transitions as t
            inner join marts.client_segments as s on t.client_id = s.client_id
            left join marts.client_group_memberships as m
                on t.client_id = m.client_id and t.target_code = m.group_code
            where t.transition_kind in ('age_band', 'age_group')
              and t.expected_date <= date '{LATE}'""",
        # the converse: every client whose band changed was announced
        f"""
            select late_s.client_id, early_s.age_band, late_s.age_band
            from marts.client_segments as late_s
            inner join early.marts.client_segments as early_s using (client_id)
            left join early.marts.client_upcoming_transitions as t
                on t.client_id = late_s.client_id and t.transition_kind = 'age_band'
                and t.to_code = late_s.age_band and t.expected_date <= date '{LATE}'
            where late_s.age_band != early_s.age_band and t.client_id is null""")
    bands = [r for r in predicted if r[1] == "age_band"]
    silver = [r for r in predicted if r[1] == "age_group" and r[2] == "silver_active"]
    assert bands, "no age band change predicted within the month: extract too small"
    assert all(r[4] == r[2] for r in bands), [r for r in bands if r[4] != r[2]][:5]
    # silver_active is decided by age alone
    assert all(r[5] == (r[3] == "enter") for r in silver), silver[:5]
    assert unannounced == []


def test_predicted_zombies_become_zombies(two_builds):
    (rows,) = _late_and_early(two_builds, f"""
            select t.client_id, s.lifecycle_stage
            from early.marts.client_upcoming_transitions as t
            inner join marts.client_segments as s on t.client_id = s.client_id
            inner join marts.client_features_monthly as f
                on t.client_id = f.client_id and f.month_end = s.as_of_date
            where t.transition_kind = 'lifecycle' and t.to_code = 'zombie'
              and t.expected_date <= date '{LATE}'
              -- what the prediction assumed still holds: never traded, little money
              and f.first_trade_date is null
              and s.total_assets < (select parameter_value from rules.rule_parameters
                                    where parameter_name = 'lifecycle_zombie_max_assets')
              and s.lifecycle_stage not in ('closed', 'churned')""")
    assert rows, "no zombie predicted within the month: extract too small"
    assert all(stage == "zombie" for _, stage in rows), [r for r in rows if r[1] != "zombie"][:5]
