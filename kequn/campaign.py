"""`kequn campaign freeze | list`: frozen campaign cohorts with a control arm.

A freeze copies today's members of one group (optionally one branch) from the published
mart `marts.client_campaign_baselines` into `<db stem>.state/campaigns/<name>.parquet`, the
warehouse's own state folder, so the cohort survives every later build. The control arm is
drawn in SQL: md5(client_id || '|' || name) read as a uniform number in [0, 1), control
when below --control-share; the same name always gives the same arms. Every later `dbt
build` reads all frozen files (source `campaigns.frozen_members`, via KEQUN_CAMPAIGNS_DIR
set by kequn.dbt.dbt_env) and measures the outcomes in `campaign_outcomes`. A frozen file
holds client ids, arms and baseline measures only: no PII.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

from kequn.state import state_dir

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")

# md5 -> 13 hex digits (52 bits) -> uniform in [0, 1): exact in a double
ARM_DRAW_SQL = ("cast(('0x' || substr(md5(client_id || '|' || $name), 1, 13)) as bigint)"
                " / 4503599627370496.0")

FREEZE_SQL = f"""
with cohort as (
    select *, {ARM_DRAW_SQL} as arm_draw
    from marts.client_campaign_baselines
    where group_code = $group_code and ($branch is null or branch_id = $branch)
)
select
    $name as campaign_name,
    group_code,
    cast($branch as varchar) as branch_filter,
    cast($control_share as double) as control_share,
    cast(current_timestamp at time zone 'UTC' as timestamp) as frozen_at,
    as_of_date,
    client_id,
    branch_id,
    arm_draw,
    case when arm_draw < $control_share then 'control' else 'treatment' end as arm,
    total_assets as baseline_total_assets,
    trades_30d as baseline_trades_30d,
    trades_90d as baseline_trades_90d,
    net_inflow_90d as baseline_net_inflow_90d,
    lifecycle_stage as baseline_lifecycle_stage,
    churn_risk_score as baseline_churn_risk_score,
    rule_version
from cohort
order by client_id
"""


class CampaignError(ValueError):
    """A freeze was refused; the message says why (nothing was written)."""


def published_db(db: Path) -> Path:
    """The published warehouse of `db`, also when `db` is a build's working copy
    (`<home>/builds/<run>/<name>` or `<home>/<stem>.state/builds/<run>/<name>`) or the
    warehouse's working database (`<home>/<stem>.state/work/<name>`)."""
    db = Path(db).resolve()
    if db.parent.name == "work" and db.parent.parent.name == db.stem + ".state":
        return db.parent.parent.parent / db.name
    builds = db.parent.parent
    if builds.name != "builds":
        return db
    home = builds.parent
    if home.name == db.stem + ".state":
        return home.parent / db.name
    return home / db.name


def campaigns_dir(db: Path) -> Path:
    """Where the warehouse at `db` (or a build of it) keeps its frozen cohorts."""
    return state_dir(published_db(db)) / "campaigns"


def freeze(db: Path, name: str, group_code: str, branch: str | None = None,
           control_share: float = 0.1) -> tuple[Path, dict[str, int]]:
    """Freeze today's members of `group_code` into `<state>/campaigns/<name>.parquet`;
    return the file and the number of clients per arm."""
    import duckdb
    import pyarrow.parquet as pq

    if not NAME_PATTERN.match(name):
        raise CampaignError(f"campaign name {name!r}: use lowercase letters, digits, '_' or "
                            "'-' (at most 63 characters); it names the frozen file")
    if not 0 < control_share < 1:
        raise CampaignError(f"--control-share {control_share}: must be between 0 and 1")
    db = Path(db).resolve()
    if not db.is_file():
        raise CampaignError(f"no published warehouse at {db}: run kequn build first")
    out = campaigns_dir(db) / f"{name}.parquet"
    if out.exists():
        raise CampaignError(f"campaign {name!r} is already frozen ({out}); a cohort is frozen "
                            "once - choose another name")
    con = duckdb.connect(str(db), read_only=True)
    try:
        groups = [r[0] for r in con.execute(
            "select group_code from rules.rule_groups order by priority").fetchall()]
        if group_code not in groups:
            raise CampaignError(f"--group {group_code!r} is not a group of rules.rule_groups "
                                f"(one of: {', '.join(groups)})")
        try:
            table = con.sql(FREEZE_SQL, params={
                "name": name, "group_code": group_code, "branch": branch,
                "control_share": control_share}).to_arrow_table()
        except duckdb.CatalogException as exc:
            raise CampaignError(f"{db} has no marts.client_campaign_baselines: rebuild it with "
                                f"this version of kequn ({exc})") from exc
    finally:
        con.close()
    if table.num_rows == 0:
        where = f" in branch {branch!r}" if branch else ""
        raise CampaignError(f"group {group_code!r}{where} has no members today: nothing frozen")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    pq.write_table(table, tmp, compression="zstd")
    os.replace(tmp, out)
    arms = table.column("arm").to_pylist()
    return out, {arm: arms.count(arm) for arm in ("treatment", "control")}


def list_campaigns(db: Path) -> list[dict]:
    """One dict per frozen cohort file of the warehouse at `db` (read from the files)."""
    import duckdb

    folder = campaigns_dir(db)
    files = sorted(folder.glob("*.parquet"))
    if not files:
        return []
    con = duckdb.connect()
    try:
        rows = con.execute(
            """select campaign_name, group_code, branch_filter, control_share,
                      min(as_of_date), min(frozen_at),
                      count(*) filter (where arm = 'treatment'),
                      count(*) filter (where arm = 'control')
               from read_parquet($files, union_by_name = true)
               group by all order by 1""", {"files": [str(f) for f in files]}).fetchall()
    finally:
        con.close()
    keys = ("name", "group", "branch", "control_share", "as_of_date", "frozen_at",
            "treatment", "control")
    return [dict(zip(keys, r, strict=True)) for r in rows]


def run_campaign(args: argparse.Namespace) -> int:
    if args.campaign_command == "freeze":
        try:
            path, arms = freeze(args.db, args.name, args.group, args.branch,
                                args.control_share)
        except CampaignError as exc:
            print(f"kequn campaign freeze: {exc}", file=sys.stderr)
            return 2
        print(f"froze campaign {args.name!r}: {arms['treatment']:,} treatment + "
              f"{arms['control']:,} control clients of group {args.group!r} -> {path}")
        print("every later kequn build measures it in marts.campaign_outcomes")
        return 0
    rows = list_campaigns(args.db)
    if not rows:
        print(f"no frozen campaigns in {campaigns_dir(args.db)}")
        return 0
    print(f"{'name':<24} {'group':<18} {'branch':<10} {'as of':<10} {'treatment':>9} "
          f"{'control':>8} {'share':>6}")
    for r in rows:
        print(f"{r['name']:<24} {r['group']:<18} {r['branch'] or '-':<10} "
              f"{r['as_of_date']!s:<10} {r['treatment']:>9,} {r['control']:>8,} "
              f"{r['control_share']:>6.2f}")
    return 0
