"""Campaign cohorts with a control arm, end to end on a generated warehouse.

Freeze the `mass` group of a small generated warehouse, append 21 delivery days with a
planted treatment effect (treated zombies start trading with probability EFFECT), rebuild,
and check that campaign_outcomes measures the planted effect inside its confidence interval.
Sizes: scale 0.05 holds about 100 zombies in `mass`; a control share of one half gives each
arm about 50, so the interval's half-width (~0.12) is well below EFFECT and excludes 0.
"""

from __future__ import annotations

import shutil

import duckdb
import pyarrow.parquet as pq
import pytest
from conftest import isolated_env, kequn
from test_segments import _query

from kequn.campaign import campaigns_dir, published_db
from kequn.state import state_dir

SCALE, SEED = "0.05", "11"
EFFECT = 0.3
CONTROL_SHARE = "0.5"
DAYS = 21          # weekdays from 2025-12-01 to 2025-12-29: the 30-day window is complete
NAME = "winback-2025-11"
PII_COLUMNS = ("name", "id_number", "phone")



@pytest.fixture(scope="module")
def campaign_run(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("campaigns")
    raw, db, env = tmp / "raw", tmp / "kequn.duckdb", isolated_env(tmp)
    kequn("generate", "--scale", SCALE, "--seed", SEED, "--out", str(raw), "--no-progress")
    kequn("build", "--raw-dir", str(raw), "--db", str(db), env=env)
    before = {
        "members": _query(db, "select count(*) from marts.campaign_members")[0][0],
        "outcomes": _query(db, "select count(*) from marts.campaign_outcomes")[0][0],
    }
    freeze = kequn("campaign", "freeze", "--db", str(db), "--name", NAME, "--group", "mass",
                   "--control-share", CONTROL_SHARE)
    cohort = campaigns_dir(db) / f"{NAME}.parquet"
    frozen = pq.read_table(cohort)
    # a copy of the warehouse before the new days, to freeze the same name again
    twin = tmp / "twin" / "kequn.duckdb"
    twin.parent.mkdir()
    shutil.copy2(db, twin)
    for _ in range(DAYS):
        kequn("generate", "--append-day", "--out", str(raw), "--treat-campaign", str(cohort),
              "--treatment-effect", str(EFFECT), "--no-progress")
    kequn("build", "--raw-dir", str(raw), "--db", str(db), env=env)
    return {"tmp": tmp, "raw": raw, "db": db, "twin": twin, "cohort": cohort,
            "frozen": frozen, "before": before, "freeze_stdout": freeze.stdout}


def test_zero_campaigns_build_empty_marts(campaign_run):
    assert campaign_run["before"] == {"members": 0, "outcomes": 0}


def test_freeze_writes_the_cohort_into_the_state_folder(campaign_run):
    db, cohort, frozen = campaign_run["db"], campaign_run["cohort"], campaign_run["frozen"]
    assert cohort.parent == state_dir(db) / "campaigns"
    members = _query(db, "select count(*) from marts.client_group_memberships "
                         "where group_code = 'mass'")
    # today's members of the group at the freeze = the build before the appended days;
    # the same count is in the freeze's own output
    assert f"{frozen.num_rows - frozen['arm'].to_pylist().count('control'):,} treatment" \
        in campaign_run["freeze_stdout"]
    assert frozen.num_rows > 0 and members[0][0] > 0
    arms = frozen.column("arm").to_pylist()
    draws = frozen.column("arm_draw").to_pylist()
    assert all((a == "control") == (u < float(CONTROL_SHARE)) for a, u in zip(arms, draws,
                                                                             strict=True))
    assert all(0 <= u < 1 for u in draws)
    n, control = len(arms), arms.count("control")
    # a fair draw: within 4 standard deviations of the expected share
    sd = (n * 0.5 * 0.5) ** 0.5
    assert abs(control - n * float(CONTROL_SHARE)) < 4 * sd


def test_the_arm_is_a_deterministic_hash_of_client_and_name(campaign_run, tmp_path):
    twin = campaign_run["twin"]
    kequn("campaign", "freeze", "--db", str(twin), "--name", NAME, "--group", "mass",
          "--control-share", CONTROL_SHARE)
    again = pq.read_table(campaigns_dir(twin) / f"{NAME}.parquet")
    first = campaign_run["frozen"]
    assert again.column("client_id").to_pylist() == first.column("client_id").to_pylist()
    assert again.column("arm").to_pylist() == first.column("arm").to_pylist()
    kequn("campaign", "freeze", "--db", str(twin), "--name", "other-name", "--group", "mass",
          "--control-share", CONTROL_SHARE)
    other = pq.read_table(campaigns_dir(twin) / "other-name.parquet")
    assert other.column("arm").to_pylist() != first.column("arm").to_pylist()


def test_freeze_refuses_bad_requests(campaign_run):
    db = campaign_run["db"]
    cases = {
        ("--name", NAME, "--group", "mass"): "already frozen",
        ("--name", "x1", "--group", "no_such_group"): "not a group of rules.rule_groups",
        ("--name", "x2", "--group", "mass", "--control-share", "1.5"): "between 0 and 1",
        ("--name", "Bad Name", "--group", "mass"): "lowercase",
        ("--name", "x3", "--group", "mass", "--branch", "NO_SUCH_BRANCH"): "no members",
    }
    for argv, message in cases.items():
        proc = kequn("campaign", "freeze", "--db", str(db), *argv, check=False)
        assert proc.returncode == 2, argv
        assert message in proc.stderr, (argv, proc.stderr)
    listed = kequn("campaign", "list", "--db", str(db)).stdout
    assert NAME in listed and "x1" not in listed


def test_no_pii_in_frozen_files_or_campaign_marts(campaign_run):
    frozen, raw, db = campaign_run["frozen"], campaign_run["raw"], campaign_run["db"]
    assert not set(frozen.column_names) & set(PII_COLUMNS)
    con = duckdb.connect()
    try:
        secrets = {r[0] for r in con.execute(f"""
            select distinct trim(v) from (
                select unnest([id_number, phone]) as v
                from read_csv('{raw}/clients/*.csv', all_varchar = true, union_by_name = true)
                union all
                select unnest([cast(id_number as varchar), cast(phone as varchar)])
                from read_parquet('{raw}/clients/*.parquet', union_by_name = true))
            where v is not null and trim(v) != ''""").fetchall()}
    finally:
        con.close()
    assert secrets
    values = {str(v) for col in frozen.columns for v in col.to_pylist() if v is not None}
    for table in ("campaign_members", "campaign_outcomes", "client_campaign_baselines"):
        cols = [r[0] for r in _query(
            db, "select column_name from information_schema.columns "
                f"where table_schema = 'marts' and table_name = '{table}'")]
        assert not set(cols) & set(PII_COLUMNS), table
        for col in cols:
            values |= {str(r[0]) for r in _query(db, f'select distinct "{col}" from marts.{table}')}
    assert not values & secrets


def test_the_cohort_survives_later_builds(campaign_run):
    db, frozen = campaign_run["db"], campaign_run["frozen"]
    rows = _query(db, "select client_id, arm from marts.campaign_members "
                      f"where campaign_name = '{NAME}' order by client_id")
    assert rows == sorted(zip(frozen.column("client_id").to_pylist(),
                              frozen.column("arm").to_pylist(), strict=True))


def test_uplift_recovers_the_planted_effect(campaign_run):
    db = campaign_run["db"]
    rows = _query(db, f"""
        select horizon_days, is_window_complete, measured_at_date, treatment_clients,
               control_clients, treatment_value, control_value, uplift, uplift_ci_low,
               uplift_ci_high
        from marts.campaign_outcomes
        where campaign_name = '{NAME}' and metric = 'zombie_conversion'
        order by horizon_days""")
    by_horizon = {r[0]: r for r in rows}
    assert set(by_horizon) == {30, 60, 90}
    h30 = by_horizon[30]
    _, complete, measured_at, n_t, n_c, p_t, p_c, uplift, low, high = h30
    assert complete and measured_at is not None
    assert n_t >= 30 and n_c >= 30, "too few zombies for a meaningful interval"
    assert low <= EFFECT <= high, f"planted {EFFECT} outside [{low:.3f}, {high:.3f}]"
    assert low > 0, "the interval must exclude no effect"
    assert high - low < EFFECT, "the interval is too wide to mean anything"
    assert uplift == pytest.approx(p_t - p_c)
    # the 60- and 90-day windows have not ended: no values, no interval
    for h in (60, 90):
        _, complete, measured_at, _, _, p_t, p_c, uplift, low, high = by_horizon[h]
        assert not complete and measured_at is None
        assert (p_t, p_c, uplift, low, high) == (None, None, None, None, None)


def test_the_control_arm_is_untouched_by_the_treatment(campaign_run):
    db = campaign_run["db"]
    ((control_rate,),) = _query(db, f"""
        select control_value from marts.campaign_outcomes
        where campaign_name = '{NAME}' and metric = 'zombie_conversion' and horizon_days = 30""")
    ((baseline_rate,),) = _query(db, f"""
        select avg(case when current_lifecycle_stage != 'zombie' then 1 else 0 end)
        from marts.campaign_members
        where campaign_name = '{NAME}' and arm = 'control'
          and baseline_lifecycle_stage = 'zombie'""")
    # the control arm converts only as zombies do without a campaign
    assert control_rate <= baseline_rate + 1e-9
    assert control_rate < EFFECT / 2


@pytest.mark.parametrize("layout", ["beside", "in_state"])
def test_a_build_copy_finds_the_published_campaigns(tmp_path, layout):
    home = tmp_path / "wh"
    published = home / "prod.duckdb"
    build_home = home / "builds" if layout == "beside" else state_dir(published) / "builds"
    copy = build_home / "20261201T000000Z-abc123" / "prod.duckdb"
    assert published_db(copy) == published.resolve()
    assert campaigns_dir(copy) == state_dir(published) / "campaigns"
    assert campaigns_dir(published) == state_dir(published) / "campaigns"
