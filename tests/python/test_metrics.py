"""The semantic layer (models/semantic/) on a real built warehouse, and the dashboards' exposures.

Every metric is queried with the real `mf query` CLI (MetricFlow over the dbt profile's
read-only target) and compared, cell by cell, with the same number computed in plain SQL on
the marts. No expected number is written here: the SQL is the reference. A metric added to
the semantic layer without a check here fails `test_every_metric_is_checked`.
"""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
import yaml
from conftest import isolated_env, kequn

from kequn import PROJECT_DIR
from kequn.dbt import run_dbt

pytestmark = pytest.mark.slow
SCALE = "0.003"
BIN = Path(sys.executable).parent
# What the project shell for `mf` links to; `target/` and `logs/` stay its own.
PROJECT_ENTRIES = ("dbt_project.yml", "profiles.yml", "models", "macros", "seeds", "tests",
                   "analyses")
MONTH_END = "month_end = last_day(month_end)"  # a calendar month end, in plain SQL

# Plain SQL over the marts: one query per semantic model, its columns named as `mf query`
# names them (group-by names, then metric names). Ratios divide as MetricFlow does (null
# for a zero denominator).
SEGMENTS_BY = ["metric_time__day", "client_group", "client_group__group_name_zh",
               "client__asset_tier", "client__age_band", "client__lifecycle_stage",
               "client__branch", "client__acquisition_channel"]
SEGMENTS_METRICS = ["clients", "total_assets", "assets_per_client", "active_clients",
                    "active_share", "zombie_clients", "zombie_share", "high_churn_risk_clients",
                    "clients_needing_risk_assessment", "risk_assessment_needed_share"]
SEGMENTS_SQL = """
select
    s.as_of_date as metric_time__day,
    s.primary_group as client_group,
    g.group_name_zh as client_group__group_name_zh,
    s.asset_tier as client__asset_tier,
    s.age_band as client__age_band,
    s.lifecycle_stage as client__lifecycle_stage,
    coalesce(s.branch_id, 'unknown') as client__branch,
    coalesce(s.open_channel, 'unknown') as client__acquisition_channel,
    count(*) as clients,
    sum(s.total_assets) as total_assets,
    sum(s.total_assets) / count(*) as assets_per_client,
    count(*) filter (where s.lifecycle_stage = 'active') as active_clients,
    count(*) filter (where s.lifecycle_stage = 'active') / count(*) as active_share,
    count(*) filter (where s.lifecycle_stage = 'zombie') as zombie_clients,
    count(*) filter (where s.lifecycle_stage = 'zombie') / count(*) as zombie_share,
    count(*) filter (where s.churn_risk_level = 'high') as high_churn_risk_clients,
    count(*) filter (where s.needs_risk_assessment) as clients_needing_risk_assessment,
    count(*) filter (where s.needs_risk_assessment) / count(*) as risk_assessment_needed_share
from marts.client_segments as s
left join marts.group_catalogue as g on s.primary_group = g.group_code
group by all
"""
GROUPS_BY = ["metric_time__day", "client_group", "client_group__group_name_zh"]
GROUPS_METRICS = ["group_members", "group_total_assets", "group_assets_per_member",
                  "group_active_clients", "group_active_share", "group_zombie_clients",
                  "group_zombie_share", "group_churn_risk_clients", "group_joined_clients",
                  "group_left_clients"]
GROUPS_SQL = f"""
select
    m.month_end as metric_time__day,
    m.group_code as client_group,
    g.group_name_zh as client_group__group_name_zh,
    m.clients as group_members,
    m.total_assets as group_total_assets,
    m.total_assets / nullif(m.clients, 0) as group_assets_per_member,
    m.active_clients as group_active_clients,
    m.active_clients / nullif(m.clients, 0) as group_active_share,
    m.zombie_clients as group_zombie_clients,
    m.zombie_clients / nullif(m.clients, 0) as group_zombie_share,
    m.churn_risk_clients as group_churn_risk_clients,
    m.joined_clients as group_joined_clients,
    m.left_clients as group_left_clients
from marts.group_monthly_summary as m
left join marts.group_catalogue as g on m.group_code = g.group_code
where {MONTH_END}
"""
LIFECYCLE_BY = ["metric_time__day", "membership__lifecycle_stage", "client_group"]
LIFECYCLE_METRICS = ["lifecycle_clients"]
LIFECYCLE_SQL = f"""
select
    month_end as metric_time__day,
    lifecycle_stage as membership__lifecycle_stage,
    group_code as client_group,
    count(*) filter (where is_primary) as lifecycle_clients
from marts.client_group_membership_history
where {MONTH_END}
group by all
"""
MONTHLY_BY = ["metric_time__day", "client_month__needs_risk_assessment"]
MONTHLY_METRICS = ["monthly_clients", "monthly_total_assets",
                   "monthly_clients_needing_risk_assessment",
                   "monthly_risk_assessment_needed_share"]
MONTHLY_SQL = f"""
select
    month_end as metric_time__day,
    needs_risk_assessment as client_month__needs_risk_assessment,
    count(*) as monthly_clients,
    sum(total_assets) as monthly_total_assets,
    count(*) filter (where needs_risk_assessment) as monthly_clients_needing_risk_assessment,
    count(*) filter (where needs_risk_assessment) / count(*)
        as monthly_risk_assessment_needed_share
from marts.client_features_monthly
where {MONTH_END}
group by all
"""
CHANNELS_BY = ["channel_group__acquisition_channel", "client_group",
               "client_group__group_name_zh"]
CHANNELS_METRICS = ["channel_clients", "channel_active_clients", "channel_zombie_clients",
                    "channel_active_or_zombie_clients", "zombie_to_active_conversion"]
CHANNELS_SQL = """
select
    a.open_channel as channel_group__acquisition_channel,
    a.primary_group as client_group,
    g.group_name_zh as client_group__group_name_zh,
    a.clients as channel_clients,
    a.active_clients as channel_active_clients,
    a.zombie_clients as channel_zombie_clients,
    a.active_clients + a.zombie_clients as channel_active_or_zombie_clients,
    a.active_clients / nullif(a.active_clients + a.zombie_clients, 0)
        as zombie_to_active_conversion
from marts.acquisition_channel_summary as a
left join marts.group_catalogue as g on a.primary_group = g.group_code
"""
# The uncut total of the as-of metrics.
SEGMENTS_TOTAL_SQL = """
select
    count(*) as clients,
    sum(total_assets) as total_assets,
    sum(total_assets) / count(*) as assets_per_client,
    count(*) filter (where lifecycle_stage = 'active') as active_clients,
    count(*) filter (where lifecycle_stage = 'active') / count(*) as active_share,
    count(*) filter (where lifecycle_stage = 'zombie') as zombie_clients,
    count(*) filter (where lifecycle_stage = 'zombie') / count(*) as zombie_share,
    count(*) filter (where churn_risk_level = 'high') as high_churn_risk_clients,
    count(*) filter (where needs_risk_assessment) as clients_needing_risk_assessment,
    count(*) filter (where needs_risk_assessment) / count(*) as risk_assessment_needed_share
from marts.client_segments
"""
# (name, group-bys, metrics, SQL): each `mf query` call and its reference
CHECKS = [
    ("as of date, finest cut", SEGMENTS_BY, SEGMENTS_METRICS, SEGMENTS_SQL),
    ("as of date, total", [], SEGMENTS_METRICS, SEGMENTS_TOTAL_SQL),
    ("groups by month end", GROUPS_BY, GROUPS_METRICS, GROUPS_SQL),
    ("lifecycle by month end", LIFECYCLE_BY, LIFECYCLE_METRICS, LIFECYCLE_SQL),
    ("features by month end", MONTHLY_BY, MONTHLY_METRICS, MONTHLY_SQL),
    ("acquisition channels", CHANNELS_BY, CHANNELS_METRICS, CHANNELS_SQL),
]

# Saved queries (one per dashboard) and the SQL of the same table.
SAVED_QUERIES = {
    "group_overview_by_month": f"""
        select m.month_end as metric_time__day, m.group_code as client_group,
            g.group_name_zh as client_group__group_name_zh,
            g.group_name_en as client_group__group_name_en,
            m.clients as group_members, m.total_assets as group_total_assets,
            m.total_assets / nullif(m.clients, 0) as group_assets_per_member,
            m.active_clients / nullif(m.clients, 0) as group_active_share,
            m.zombie_clients / nullif(m.clients, 0) as group_zombie_share,
            m.churn_risk_clients as group_churn_risk_clients,
            m.joined_clients as group_joined_clients, m.left_clients as group_left_clients
        from marts.group_monthly_summary as m
        left join marts.group_catalogue as g on m.group_code = g.group_code
        where {MONTH_END}""",
    "lifecycle_funnel": f"""
        select month_end as metric_time__day, lifecycle_stage as membership__lifecycle_stage,
            count(*) as lifecycle_clients
        from marts.client_group_membership_history
        where is_primary and {MONTH_END} group by all""",
    "channel_conversion": """
        select open_channel as channel_group__acquisition_channel,
            sum(clients) as channel_clients, sum(active_clients) as channel_active_clients,
            sum(zombie_clients) as channel_zombie_clients,
            sum(active_clients) / nullif(sum(active_clients) + sum(zombie_clients), 0)
                as zombie_to_active_conversion
        from marts.acquisition_channel_summary group by all""",
    "churn_watch": """
        select s.primary_group as client_group, g.group_name_zh as client_group__group_name_zh,
            coalesce(s.branch_id, 'unknown') as client__branch,
            count(*) as clients,
            count(*) filter (where s.churn_risk_level = 'high') as high_churn_risk_clients,
            sum(s.total_assets) as total_assets
        from marts.client_segments as s
        left join marts.group_catalogue as g on s.primary_group = g.group_code
        group by all""",
    "suitability": """
        select s.primary_group as client_group, g.group_name_zh as client_group__group_name_zh,
            count(*) as clients,
            count(*) filter (where s.needs_risk_assessment) as clients_needing_risk_assessment,
            count(*) filter (where s.needs_risk_assessment) / count(*)
                as risk_assessment_needed_share
        from marts.client_segments as s
        left join marts.group_catalogue as g on s.primary_group = g.group_code
        group by all""",
}

# Dashboard exposure -> marts it must list (what it reads) and a mart it must not.
EXPOSURES = {
    "dashboard_group_overview": ({"group_monthly_summary", "group_catalogue",
                                  "client_group_membership_history"}, "client_segments"),
    "dashboard_lifecycle_funnel": ({"client_group_membership_history"}, "group_catalogue"),
    "dashboard_channel_conversion": ({"acquisition_channel_summary", "client_segments"},
                                     "group_monthly_summary"),
    "dashboard_churn_watch": ({"client_segments", "group_catalogue"}, "group_monthly_summary"),
    "dashboard_suitability": ({"client_segments", "group_catalogue"},
                              "acquisition_channel_summary"),
}


@pytest.fixture(scope="module")
def metrics_project(tmp_path_factory) -> Iterator[tuple[Path, dict[str, str]]]:
    """A generated extract built into `<tmp>/kequn.duckdb`, and a project shell for `mf`.

    `mf` reads `<project>/target/semantic_manifest.json` (a fixed path) and runs `dbt debug`
    there, so it gets its own shell linking to the project's files, with its own target/ and
    logs/ (written by `dbt parse` pointed at the same warehouse file)."""
    tmp = tmp_path_factory.mktemp("metrics")
    raw, db = tmp / "raw", tmp / "kequn.duckdb"
    kequn("generate", "--scale", SCALE, "--out", str(raw), "--no-progress")
    kequn("build", "--raw-dir", str(raw), "--db", str(db), env=isolated_env(tmp))
    shell = tmp / "project"
    shell.mkdir()
    for entry in PROJECT_ENTRIES:
        (shell / entry).symlink_to(PROJECT_DIR / entry)
    env = {**os.environ, "DO_NOT_TRACK": "1", "KEQUN_TARGET": "reader", "KEQUN_DB": str(db),
           "KEQUN_TEMP_DIR": str(tmp / "duckdb_tmp"), "DBT_PROFILES_DIR": str(shell),
           "DBT_PROJECT_DIR": str(shell), "DBT_TARGET_PATH": str(shell / "target"),
           "DBT_LOG_PATH": str(shell / "logs")}
    _run([str(BIN / "dbt"), "parse", "--quiet"], shell, env)
    yield shell, env


def _run(cmd: list[str], cwd: Path, env: dict[str, str]) -> str:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, (f"{' '.join(cmd)} exited {proc.returncode}\n"
                                  f"{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    return proc.stdout


def _mf_query(project: tuple[Path, dict[str, str]], *args: str) -> list[dict[str, str]]:
    shell, env = project
    out = shell / "target" / "mf_query.csv"
    _run([str(BIN / "mf"), "query", *args, "--csv", str(out), "--quiet"], shell, env)
    with out.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _sql(db: Path, sql: str) -> list[dict]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        cur = con.execute(sql)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    finally:
        con.close()


def _key(value: object) -> str:
    """A group-by value as `mf query --csv` writes it (dates as `YYYY-MM-DD 00:00:00`)."""
    if value is None:
        return ""
    text = str(value)
    return text[:10] if len(text) >= 10 and text[4:5] == "-" and text[7:8] == "-" else text


def _number(value: object) -> float | None:
    return None if value in (None, "") else float(value)


def _compare(label: str, by: list[str], metrics: list[str], got: list[dict[str, str]],
             want: list[dict]) -> int:
    """Every row of the SQL, and no other, in the mf result; every metric value equal."""
    got_rows = {tuple(_key(r[c]) for c in by): r for r in got}
    want_rows = {tuple(_key(r[c]) for c in by): r for r in want}
    assert len(got_rows) == len(got), f"{label}: mf returned a group twice"
    assert got_rows.keys() == want_rows.keys(), (
        f"{label}: groups differ; only mf: {sorted(got_rows.keys() - want_rows.keys())[:5]}, "
        f"only SQL: {sorted(want_rows.keys() - got_rows.keys())[:5]}")
    for key, row in want_rows.items():
        for metric in metrics:
            a, b = _number(got_rows[key][metric]), _number(row[metric])
            assert (a is None) == (b is None), f"{label} {metric} {key}: mf {a} vs SQL {b}"
            if a is not None:
                assert math.isclose(a, b, rel_tol=1e-9, abs_tol=0.005), (
                    f"{label} {metric} {key}: mf {a} vs SQL {b}")
    return len(want_rows)


def _metric_names() -> set[str]:
    names = set()
    for path in (PROJECT_DIR / "models" / "semantic").glob("*.yml"):
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        names |= {m["name"] for m in doc.get("metrics", [])}
    return names


def test_every_metric_is_checked():
    checked = {m for _, _, metrics, _ in CHECKS for m in metrics}
    assert checked == _metric_names()


@pytest.mark.parametrize("label, by, metrics, sql", CHECKS, ids=[c[0] for c in CHECKS])
def test_mf_query_matches_sql(metrics_project, label, by, metrics, sql):
    db = Path(metrics_project[1]["KEQUN_DB"])
    args = ["--metrics", ",".join(metrics)]
    if by:
        args += ["--group-by", ",".join(by)]
    got = _mf_query(metrics_project, *args)
    want = _sql(db, sql)
    assert want, f"{label}: the reference SQL returned no rows; the check would prove nothing"
    assert _compare(label, by, metrics, got, want) == len(want)


def test_month_end_metrics_leave_out_the_as_of_row(metrics_project):
    """The history marts hold the current as-of date besides month ends; month-end metrics
    leave it out."""
    db = Path(metrics_project[1]["KEQUN_DB"])
    dates = {_key(r["d"]) for r in _sql(db, "select distinct month_end as d "
                                            "from marts.group_monthly_summary")}
    month_ends = {_key(r["d"]) for r in _sql(db, "select distinct month_end as d from "
                                                 f"marts.group_monthly_summary where {MONTH_END}")}
    assert dates - month_ends, "the extract should end inside a month (an as-of row)"
    got = _mf_query(metrics_project, "--metrics", "group_members,lifecycle_clients,monthly_clients",
                    "--group-by", "metric_time__day")
    assert {_key(r["metric_time__day"]) for r in got} == month_ends
    assert len(month_ends) >= 12, "a generated extract spans more than a year of month ends"


def test_mf_reads_while_a_bi_tool_holds_the_warehouse(metrics_project):
    """The `reader` target opens the file read-only: `mf` works while another process (a BI
    tool) has the warehouse open, which a read-write open would refuse (file lock)."""
    db = Path(metrics_project[1]["KEQUN_DB"])
    holder = duckdb.connect(str(db), read_only=True)
    try:
        got = _mf_query(metrics_project, "--metrics", "clients")
    finally:
        holder.close()
    assert [int(float(r["clients"])) for r in got] == [
        r["n"] for r in _sql(db, "select count(*) as n from marts.client_segments")]


@pytest.mark.parametrize("saved_query", sorted(SAVED_QUERIES))
def test_saved_query_matches_sql(metrics_project, saved_query):
    db = Path(metrics_project[1]["KEQUN_DB"])
    got = _mf_query(metrics_project, "--saved-query", saved_query)
    want = _sql(db, SAVED_QUERIES[saved_query])
    assert got and want
    metric_names = _metric_names()
    by = [c for c in want[0] if c not in metric_names]
    metrics = [c for c in want[0] if c in metric_names]
    assert set(got[0]) == set(want[0]), f"{saved_query}: columns {sorted(got[0])}"
    _compare(saved_query, by, metrics, got, want)


def test_mf_lists_every_metric(metrics_project):
    shell, env = metrics_project
    listed = _run([str(BIN / "mf"), "list", "metrics"], shell, env)
    for name in _metric_names():
        assert f"• {name}:" in listed


def test_exposures_list_the_marts_they_read(tmp_path):
    """`dbt ls --select +exposure:<dashboard>` names every mart the dashboard reads (and the
    layers under them), so it tells what a change breaks; it names no unrelated mart."""
    from dbt.cli.main import dbtRunner

    target = tmp_path / "target"
    runner = dbtRunner(manifest=run_dbt(["parse", "--quiet"], target_path=target).result)
    for exposure, (reads, unrelated) in EXPOSURES.items():
        listed = runner.invoke([
            "ls", "--quiet", "--project-dir", str(PROJECT_DIR), "--profiles-dir",
            str(PROJECT_DIR), "--target-path", str(target), "--select", f"+exposure:{exposure}",
            "--resource-type", "model", "--output", "name"])
        assert listed.success, listed.exception
        models = set(listed.result)
        assert reads <= models, f"{exposure}: missing {reads - models}"
        assert unrelated not in models, f"{exposure} should not depend on {unrelated}"
        assert any(m.startswith("stg_brokerage__") for m in models), exposure
    manifest = json.loads((target / "manifest.json").read_text(encoding="utf-8"))
    exposures = {e["name"]: e for e in manifest["exposures"].values()}
    assert set(EXPOSURES) <= set(exposures)
    for name in EXPOSURES:
        assert exposures[name]["owner"]["email"], name
        assert exposures[name]["depends_on"]["nodes"], name
