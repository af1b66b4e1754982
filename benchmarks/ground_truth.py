"""Compare the built segments with the generator's ground truth.

    python benchmarks/ground_truth.py <extract> --db <warehouse.duckdb> [--truth DIR] [--json OUT]

Reads `<extract>.truth/personas.parquet` (planted_groups, planted_primary_group,
planted_lifecycle per client) and `marts.client_segments` of the built warehouse, and prints
precision / recall per group (membership and primary group) and per lifecycle stage, with
how many of the disagreements touch a client whose raw values carry planted dirt or that
sits on a day boundary, plus a few example disagreements per label. A disagreement is
explained only when the client carries planted dirt of its kind (GROUP_DIRT for group and
primary-group comparisons, LIFECYCLE_DIRT for the stage); the rest are counted as
`unexplained_disagreements` (the target is 0) and listed. Writes the same as JSON.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

import duckdb

EXAMPLES = 5

# Which planted dirt (the truth's dirt_affecting_segmentation labels) can legitimately
# change which comparison: a disagreement counts as explained only by a label of its kind.
# Demographic dirt (gender, occupation, birth date with no usable id) moves groups; dirt on
# the as-of day's holdings, cash or recent trades moves the lifecycle stage, and holdings
# dirt also the restricted-STAR evidence of tech_executive.
GROUP_DIRT = ("gender_missing", "occupation_missing", "birth_date_", "holding_")
LIFECYCLE_DIRT = ("holding_", "cash_balance_", "trade_")


def _labels(dirt: str) -> list[str]:
    return [x for x in dirt.split(";") if x]


def explaining_dirt(dirt: str, comparison: str) -> list[str]:
    """The client's dirt labels that can explain a disagreement in `comparison`
    ('group', 'primary' or 'lifecycle')."""
    prefixes = LIFECYCLE_DIRT if comparison == "lifecycle" else GROUP_DIRT
    return [x for x in _labels(dirt) if x.startswith(prefixes)]


def _prf(tp: int, fp: int, fn: int) -> dict[str, float | int | None]:
    precision = tp / (tp + fp) if tp + fp else None
    recall = tp / (tp + fn) if tp + fn else None
    return {"tp": tp, "fp": fp, "fn": fn, "precision": precision, "recall": recall}


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _fmt(x: float | None) -> str:
    return "   -  " if x is None else f"{x:6.3f}"


def load(extract: Path, db: Path, truth: Path | None) -> list[dict]:
    truth_dir = truth or extract.with_name(extract.name + ".truth")
    personas = truth_dir / "personas.parquet"
    if not personas.exists():
        raise SystemExit(f"no ground truth at {personas}")
    con = duckdb.connect()
    con.execute(f"attach '{db}' as wh (read_only)")
    rows = con.execute(f"""
        select
            t.client_id,
            coalesce(t.planted_groups, '') as truth_groups,
            t.planted_primary_group as truth_primary,
            t.planted_lifecycle as truth_lifecycle,
            coalesce(t.dirt_affecting_segmentation, '') as dirt,
            coalesce(t.boundary_sensitive, false) as boundary_sensitive,
            s.client_id is not null as in_segments,
            coalesce(s.group_codes, '') as built_groups,
            s.primary_group as built_primary,
            s.lifecycle_stage as built_lifecycle
        from read_parquet('{personas}') as t
        left join wh.marts.client_segments as s on t.client_id = s.client_id
        where coalesce(t.client_type, 'individual') = 'individual'
    """).fetchall()
    cols = [d[0] for d in con.description]
    extra = con.execute(f"""
        select count(*) from wh.marts.client_segments s
        where s.client_id not in (select client_id from read_parquet('{personas}')
                                  where coalesce(client_type, 'individual') = 'individual')
    """).fetchone()[0]
    con.close()
    out = [dict(zip(cols, r, strict=True)) for r in rows]
    if out:
        out[0]["_extra_in_segments"] = extra
    return out


def compare(rows: list[dict]) -> dict:
    groups: dict[str, Counter] = defaultdict(Counter)
    primary: dict[str, Counter] = defaultdict(Counter)
    stages: dict[str, Counter] = defaultdict(Counter)
    examples: dict[str, list] = defaultdict(list)
    causes: dict[str, Counter] = defaultdict(Counter)
    disagreements: Counter = Counter()
    unexplained: list[dict] = []

    def cause_of(r: dict, comparison: str) -> str:
        if explaining_dirt(r["dirt"], comparison):
            return "dirt"
        if r["dirt"]:
            return "unrelated_dirt"
        return "boundary" if r["boundary_sensitive"] else "other"

    def disagree(comparison: str, r: dict, got, want) -> None:
        """One disagreement: a (client, group) membership, a primary group or a stage."""
        cause = cause_of(r, comparison)
        disagreements[f"{comparison}_{cause}"] += 1
        if cause != "dirt":
            unexplained.append({"client_id": r["client_id"], "comparison": comparison,
                                "built": got, "truth": want, "dirt": r["dirt"],
                                "boundary_sensitive": r["boundary_sensitive"]})

    def miss(label: str, kind: str, r: dict, got, want) -> None:
        cause = cause_of(r, label.split(":", 1)[0])
        causes[label][f"{kind}_{cause}"] += 1
        if len(examples[label]) < EXAMPLES:
            examples[label].append({"client_id": r["client_id"], "kind": kind, "built": got,
                                    "truth": want, "dirt": r["dirt"]})

    missing = [r["client_id"] for r in rows if not r["in_segments"]]
    for r in rows:
        if not r["in_segments"]:
            continue
        want = set(filter(None, r["truth_groups"].split(",")))
        got = set(filter(None, r["built_groups"].split(",")))
        for g in want | got:
            if g in want and g in got:
                groups[g]["tp"] += 1
            elif g in got:
                groups[g]["fp"] += 1
                miss(f"group:{g}", "fp", r, r["built_groups"], r["truth_groups"])
                disagree("group", r, r["built_groups"], r["truth_groups"])
            else:
                groups[g]["fn"] += 1
                miss(f"group:{g}", "fn", r, r["built_groups"], r["truth_groups"])
                disagree("group", r, r["built_groups"], r["truth_groups"])
        for table, key_got, key_want, prefix in (
            (primary, "built_primary", "truth_primary", "primary"),
            (stages, "built_lifecycle", "truth_lifecycle", "lifecycle"),
        ):
            got1, want1 = r[key_got], r[key_want]
            if got1 == want1:
                table[got1]["tp"] += 1
            else:
                table[got1]["fp"] += 1
                table[want1]["fn"] += 1
                miss(f"{prefix}:{got1}", "fp", r, got1, want1)
                miss(f"{prefix}:{want1}", "fn", r, got1, want1)
                disagree(prefix, r, got1, want1)

    def table(counter: dict[str, Counter]) -> dict:
        return {k: _prf(v["tp"], v["fp"], v["fn"]) for k, v in sorted(counter.items())}

    compared = sum(1 for r in rows if r["in_segments"])
    return {
        "clients_in_truth": len(rows),
        "clients_compared": compared,
        "missing_from_client_segments": len(missing),
        "missing_examples": missing[:EXAMPLES],
        "extra_in_client_segments": rows[0].get("_extra_in_segments", 0) if rows else 0,
        "primary_group_accuracy": _share(sum(v["tp"] for v in primary.values()), compared),
        "lifecycle_accuracy": _share(sum(v["tp"] for v in stages.values()), compared),
        "groups": table(groups),
        "primary_groups": table(primary),
        "lifecycle_stages": table(stages),
        "disagreements": sum(disagreements.values()),
        "disagreements_by_cause": dict(sorted(disagreements.items())),
        "unexplained_disagreements": len(unexplained),
        "unexplained_examples": unexplained[:50],
        "disagreement_causes": {k: dict(v) for k, v in sorted(causes.items())},
        "examples": dict(sorted(examples.items())),
    }


def report(result: dict) -> str:
    lines = [
        f"clients in truth (individual): {result['clients_in_truth']}, compared: "
        f"{result['clients_compared']}, missing from client_segments: "
        f"{result['missing_from_client_segments']}, extra: {result['extra_in_client_segments']}",
        f"primary group accuracy: {_fmt(result['primary_group_accuracy'])}   "
        f"lifecycle accuracy: {_fmt(result['lifecycle_accuracy'])}",
    ]
    for title, key in (("group membership", "groups"), ("primary group", "primary_groups"),
                       ("lifecycle stage", "lifecycle_stages")):
        lines.append(f"\n{title:<20} {'precision':>9} {'recall':>7} {'tp':>7} {'fp':>6} {'fn':>6}")
        for label, m in result[key].items():
            lines.append(f"{label:<20} {_fmt(m['precision']):>9} {_fmt(m['recall']):>7} "
                         f"{m['tp']:>7} {m['fp']:>6} {m['fn']:>6}")
    lines.append(f"\ndisagreements: {result['disagreements']} (one per client and group, "
                 f"primary group or stage), unexplained: {result['unexplained_disagreements']}"
                 " — " + ", ".join(f"{k}={v}" for k, v in
                                   result["disagreements_by_cause"].items()))
    for u in result["unexplained_examples"][:EXAMPLES]:
        lines.append(f"  unexplained: {u}")
    if result["disagreement_causes"]:
        lines.append("\ndisagreements by cause (dirt = planted raw dirt of the comparison's "
                     "kind on the client; unrelated_dirt = only dirt of another kind; "
                     "boundary = a day-boundary case):")
        for label, c in result["disagreement_causes"].items():
            lines.append(f"  {label:<28} " + ", ".join(f"{k}={v}" for k, v in sorted(c.items())))
    return "\n".join(lines)


def _extract_meta(extract: Path, truth: Path | None) -> dict:
    """What was compared: the extract's scale, seed and reference date, and the commit."""
    meta_path = (truth or extract.with_name(extract.name + ".truth")) / "meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, cwd=Path(__file__).parent, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = None
    return {"scale": meta.get("scale"), "seed": meta.get("seed"),
            "ref_date": meta.get("ref_date"), "clients": meta.get("clients"),
            "git_commit": commit}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("extract", type=Path, help="extract directory written by `kequn generate`")
    p.add_argument("--db", type=Path, required=True, help="warehouse built from that extract")
    p.add_argument("--truth", type=Path, default=None,
                   help="truth folder (default <extract>.truth)")
    p.add_argument("--json", type=Path, default=None, help="write the result here as JSON")
    args = p.parse_args(argv)
    result = {"extract": _extract_meta(args.extract, args.truth),
              **compare(load(args.extract, args.db, args.truth))}
    print(report(result))
    if args.json:
        text = json.dumps(result, indent=2, ensure_ascii=False, default=str)
        args.json.write_text(text, encoding="utf-8")
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
