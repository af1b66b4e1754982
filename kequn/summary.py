"""`kequn summary`: a readable digest of the published warehouse (reads marts only)."""

from __future__ import annotations

import argparse
import sys

import duckdb

SECTIONS: list[tuple[str, str]] = [
    (
        "Reconciliation (every raw row accounted for)",
        """select table_name, raw_rows, loaded_rows, duplicate_rows, rejected_rows
           from marts.dq_reconciliation order by table_name""",
    ),
    (
        "Primary groups",
        """select primary_group, count(*) as clients,
                  round(sum(total_assets) / 1e6, 1) as assets_m_cny,
                  round(100.0 * count(*) / sum(count(*)) over (), 1) as pct
           from marts.client_segments group by 1 order by clients desc""",
    ),
    (
        "Group memberships (a client may be in several)",
        """select group_code, count(*) as members, sum(case when is_primary then 1 else 0 end)
                  as as_primary
           from marts.client_group_memberships group by 1 order by members desc""",
    ),
    (
        "Lifecycle stages",
        """select lifecycle_stage, count(*) as clients,
                  round(100.0 * count(*) / sum(count(*)) over (), 1) as pct
           from marts.client_segments group by 1 order by clients desc""",
    ),
    (
        "Asset tiers",
        """select asset_tier, count(*) as clients from marts.client_segments
           group by 1 order by min(total_assets)""",
    ),
    (
        "Churn risk",
        """select coalesce(churn_risk_level, 'n/a (closed or churned)') as churn_risk_level,
                  count(*) as clients
           from marts.client_segments group by 1 order by clients desc""",
    ),
    (
        "Service channels and risk assessments due",
        """select service_channel, count(*) as clients,
                  sum(case when needs_risk_assessment then 1 else 0 end) as assessment_due
           from marts.client_segments group by 1 order by clients desc""",
    ),
]


def _print_table(title: str, cols: list[str], rows: list[tuple]) -> None:
    cells = [[("" if v is None else f"{v:,}" if isinstance(v, int) else str(v)) for v in r]
             for r in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(cols)]
    print(f"\n{title}")
    print("  " + "  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)))
    for r in cells:
        print("  " + "  ".join(v.rjust(w) if v[:1].isdigit() or v[:1] == "-" else v.ljust(w)
                               for v, w in zip(r, widths, strict=True)))


def run_summary(args: argparse.Namespace) -> int:
    if not args.db.exists():
        print(f"kequn summary: no warehouse at {args.db}; run `kequn build` first",
              file=sys.stderr)
        return 2
    con = duckdb.connect(str(args.db), read_only=True)
    as_of = con.execute("select max(as_of_date) from marts.client_segments").fetchone()[0]
    version = con.execute("select max(rule_version) from marts.client_segments").fetchone()[0]
    print(f"warehouse {args.db} — as of {as_of}, rule_version {version}")
    for title, sql in SECTIONS:
        cur = con.execute(sql)
        _print_table(title, [d[0] for d in cur.description], cur.fetchall())
    con.close()
    return 0
