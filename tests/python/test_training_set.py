"""The churn training set is point-in-time: features at M read nothing after M, and the
label reads nothing after M + 90 days (client_churn_training_set).

A generated extract is built three times: whole; cut at a labelled month end M (every file
that may hold a day after M removed); and cut at M + 90 days with the as-of date there
(monthly files end at the last month end inside the window, so that cut also removes the
window's tail after it: the label reads month ends only).
Products are kept whole in every cut: the contract gives them no history, and the marts
use their latest version for every date (DECISIONS.md, "Rules and marts"). The label's
boundaries (a stage at M, at M + 90, after it, on the as-of row) are the dbt unit test
`churn_label_reads_only_month_ends_inside_its_window`.
"""

from __future__ import annotations

import re
import shutil
from datetime import date, timedelta
from pathlib import Path

import pytest
from conftest import isolated_env, kequn
from conftest import query as _rows

pytestmark = pytest.mark.slow
SCALE = "0.01"
WINDOW_DAYS = 90  # seeds/rules/rule_parameters.csv churn_label_window_days
FEATURES = ("snapshot_date, age, gender, days_since_open, needs_risk_assessment, total_assets, "
            "holdings_value, cash_balance, margin_debt, net_assets, liability_ratio, "
            "high_risk_share, fixed_income_share, tech_share, restricted_value, trades_30d, "
            "trades_90d, trades_365d, trade_amount_90d, days_since_last_trade, first_trade_date, "
            "online_trade_share, net_inflow_30d, net_inflow_90d, logins_30d, logins_90d, "
            "content_views_90d, learning_events_90d, assets_change_90d")


def _period_end(stem: str) -> date:
    """Last day a delivery file can hold: `2025-11-26`, `2025-11` or `2023-10_initial`."""
    m = re.match(r"(\d{4})-(\d{2})(?:-(\d{2}))?", stem)
    assert m, f"unexpected delivery file name {stem!r}"
    if m[3]:
        return date(int(m[1]), int(m[2]), int(m[3]))
    first_of_next = date(int(m[1]) + int(m[2]) // 12, int(m[2]) % 12 + 1, 1)
    return first_of_next - timedelta(days=1)


def _cut(raw: Path, dest: Path, cutoff: date) -> Path:
    shutil.copytree(raw, dest)
    removed = [p for p in dest.rglob("*") if p.is_file() and p.parent.name != "products"
               and _period_end(p.stem) > cutoff]
    assert removed, "the cut removed nothing: the test would prove nothing"
    for p in removed:
        p.unlink()
    return dest


def _build(raw: Path, tmp: Path, as_of: date | None = None) -> Path:
    db = tmp / "kequn.duckdb"
    extra = ["--as-of", as_of.isoformat()] if as_of else []
    kequn("build", "--raw-dir", str(raw), "--db", str(db), *extra, env=isolated_env(tmp))
    return db


@pytest.fixture(scope="module")
def builds(tmp_path_factory) -> dict[str, object]:
    tmp = tmp_path_factory.mktemp("training_set")
    raw = tmp / "raw"
    kequn("generate", "--scale", SCALE, "--out", str(raw), "--no-progress")
    full = _build(raw, tmp / "full")
    month_end = _rows(full, "select max(month_end) from marts.client_churn_training_set")[0][0]
    window_end = month_end + timedelta(days=WINDOW_DAYS)
    at_m = _build(_cut(raw, tmp / "raw_to_m", month_end), tmp / "to_m")
    at_window_end = _build(_cut(raw, tmp / "raw_to_window_end", window_end),
                           tmp / "to_window_end", as_of=window_end)
    return {"full": full, "at_m": at_m, "at_window_end": at_window_end, "m": month_end,
            "window_end": window_end}


def test_only_months_with_a_complete_label_window_are_labelled(builds):
    full, m = builds["full"], builds["m"]
    as_of = _rows(full, "select as_of_date from marts.client_segments limit 1")[0][0]
    assert m + timedelta(days=WINDOW_DAYS) <= as_of
    next_month_end = _rows(full, "select min(month_end) from marts.client_features_monthly "
                           "where is_month_end and month_end > ?", m)[0][0]
    assert next_month_end + timedelta(days=WINDOW_DAYS) > as_of  # M is the latest complete
    wrong = _rows(full, "select count(*) from marts.client_churn_training_set "
                  "where label_window_end <> month_end + interval 90 day "
                  "or month_end <> last_day(month_end)")[0][0]
    assert wrong == 0
    counts = dict(_rows(full, "select is_churned_within_window, count(*) "
                    "from marts.client_churn_training_set group by 1"))
    assert counts.get(True, 0) > 0 and counts.get(False, 0) > 0


def test_features_at_m_read_nothing_after_m(builds):
    """The training set's features at M (built with all data) equal client_features_monthly at
    M built from the extract cut at M."""
    full, at_m, m = builds["full"], builds["at_m"], builds["m"]
    assert _rows(at_m, "select max(month_end) from marts.client_features_monthly")[0][0] == m
    with_all = _rows(full, f"select client_id, {FEATURES} from marts.client_churn_training_set "
                     "where month_end = ? order by client_id", m)
    assert len(with_all) > 100
    cut = dict((r[0], r[1:]) for r in _rows(
        at_m, f"select client_id, {FEATURES} from marts.client_features_monthly "
        "where month_end = ?", m))
    assert [r for r in with_all if cut.get(r[0]) != r[1:]] == []
    # the baseline score and the stage at M too
    score_sql = ("select client_id, lifecycle_stage, churn_risk_score from {} "
                 "where month_end = ? order by client_id")
    scores_all = _rows(full, score_sql.format("marts.client_churn_training_set"), m)
    scores_cut = dict((r[0], r[1:]) for r in _rows(
        at_m, score_sql.format("marts.client_lifecycle_monthly"), m))
    assert [r for r in scores_all if scores_cut.get(r[0]) != r[1:]] == []


def test_label_reads_nothing_after_the_window(builds):
    """Rows for M built from data up to M + 90 days equal the rows built from all data - and
    reading one month end further would have changed some labels, so the test can fail."""
    full, cut, m = builds["full"], builds["at_window_end"], builds["m"]
    sql = ("select * exclude (rule_version) from marts.client_churn_training_set "
           "where month_end = ? order by client_id")
    assert _rows(full, sql, m) == _rows(cut, sql, m)
    flipped = _rows(full, """
        select count(*) from marts.client_churn_training_set as t
        inner join marts.client_lifecycle_monthly as later
            on t.client_id = later.client_id and later.is_month_end
            and later.month_end > t.label_window_end
            and later.month_end <= t.label_window_end + interval 31 day
        where t.month_end = ? and not t.is_churned_within_window
            and later.lifecycle_stage in ('churned', 'closed')""", m)[0][0]
    assert flipped > 0, "no client churns just after the window: the cut proves nothing"


def test_label_is_the_lifecycle_seen_inside_the_window(builds):
    """Every true label names a month end inside (M, M + 90] where the history says churned or
    closed; every false label has none there."""
    full = builds["full"]
    mismatched = _rows(full, """
        with seen as (
            select t.client_id, t.month_end, t.is_churned_within_window,
                   count(later.client_id) as churned_month_ends,
                   min(later.month_end) as first_seen
            from marts.client_churn_training_set as t
            left join marts.client_lifecycle_monthly as later
                on t.client_id = later.client_id and later.is_month_end
                and later.month_end > t.month_end and later.month_end <= t.label_window_end
                and later.lifecycle_stage in ('churned', 'closed')
            group by all
        )
        select count(*) from seen inner join marts.client_churn_training_set as t using
            (client_id, month_end)
        where seen.is_churned_within_window <> (seen.churned_month_ends > 0)
           or t.label_observed_date is distinct from seen.first_seen""")[0][0]
    assert mismatched == 0
    already_lost = _rows(full, """
        select count(*) from marts.client_churn_training_set as t
        inner join marts.client_lifecycle_monthly as l using (client_id, month_end)
        where l.lifecycle_stage in ('churned', 'closed')""")[0][0]
    assert already_lost == 0
