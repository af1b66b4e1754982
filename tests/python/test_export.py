"""`kequn export` against the marts it reads, on a generated extract built for real.

The files must hold exactly the contactable rows of marts.client_outreach_lists, split by
outreach list, branch and primary group, with the values the marts give each client (its
primary membership, churn warning, first recommendations); filters must keep exactly what
they name; no PII may reach any file; every XLSX must open with its two header rows and the
same rows as its Parquet twin.
"""

from __future__ import annotations

import csv
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from conftest import isolated_env, kequn
from conftest import query as _rows

pytestmark = pytest.mark.slow
SCALE = "0.01"
# The spec's playbooks: offline (advisor) and O2O groups vs online groups.
ADVISOR_GROUPS = {"tech_executive", "sme_owner", "silver_active", "full_time_mom",
                  "independent_woman"}
ONLINE_GROUPS = {"college_student", "gen_z", "mass"}
PII_COLUMNS = ("name", "id_number", "phone")


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("export")
    raw, db = tmp / "raw", tmp / "kequn.duckdb"
    kequn("generate", "--scale", SCALE, "--out", str(raw), "--no-progress")
    kequn("build", "--raw-dir", str(raw), "--db", str(db), env=isolated_env(tmp))
    return raw, db


@pytest.fixture(scope="module")
def exported(built, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("lists") / "out"
    kequn("export", "--db", str(built[1]), "--out", str(out), "--feast")
    return out


def _manifest(out: Path) -> list[dict[str, str]]:
    with (out / "manifest.csv").open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _parquet_rows(out: Path) -> list[dict]:
    rows: list[dict] = []
    for path in sorted(out.rglob("*.parquet")):
        if "feast" not in path.parts:
            rows.extend(pq.read_table(path).to_pylist())
    return rows


def test_row_counts_per_list_branch_and_group_match_the_mart(built, exported):
    db = built[1]
    expected = {(r[0], r[1], r[2]): r[3] for r in _rows(db, """
        select outreach_list, coalesce(branch_id, 'unassigned'), primary_group, count(*)
        from marts.client_outreach_lists where is_contactable group by all""")}
    manifest = {(m["outreach_list"], m["branch_id"], m["primary_group"]): int(m["rows"])
                for m in _manifest(exported)}
    assert manifest == expected
    assert len(expected) > 20 and {k[0] for k in expected} == {"advisor_call", "online_campaign"}
    for m in _manifest(exported):
        files = {p.suffix: exported / p for p in map(Path, m["files"].split(";"))}
        assert sorted(files) == [".csv", ".parquet", ".xlsx"]
        assert pq.read_metadata(files[".parquet"]).num_rows == int(m["rows"])
        with files[".csv"].open(encoding="utf-8-sig") as f:
            assert sum(1 for _ in csv.DictReader(f)) == int(m["rows"])
    # every client of client_segments is in the mart; the closed ones are in no file
    (segments, listed, closed) = _rows(db, """
        select (select count(*) from marts.client_segments),
               (select count(*) from marts.client_outreach_lists),
               (select count(*) from marts.client_outreach_lists where not is_contactable)""")[0]
    assert segments == listed and closed > 0
    closed_ids = {r[0] for r in _rows(db, "select client_id from marts.client_segments "
                                          "where lifecycle_stage = 'closed'")}
    exported_ids = [r["client_id"] for r in _parquet_rows(exported)]
    assert len(exported_ids) == len(set(exported_ids)) == listed - closed
    assert not closed_ids & set(exported_ids)


def test_advisor_lists_hold_the_offline_and_o2o_groups(exported):
    rows = _parquet_rows(exported)
    advisor = {r["primary_group"] for r in rows if r["outreach_list"] == "advisor_call"}
    online = {r["primary_group"] for r in rows if r["outreach_list"] == "online_campaign"}
    assert advisor <= ADVISOR_GROUPS and online <= ONLINE_GROUPS
    assert {"silver_active", "independent_woman"} <= advisor and {"mass", "gen_z"} <= online
    for path in exported.rglob("*.parquet"):
        if "feast" in path.parts:
            continue
        lists = set(pq.read_table(path, columns=["outreach_list"])["outreach_list"].to_pylist())
        assert lists == {path.parts[-3]}


def test_values_of_a_sample_of_clients_match_the_marts(built, exported):
    db = built[1]
    con = duckdb.connect(str(db), read_only=True)

    def query(sql: str, *params: object) -> list[tuple]:
        return con.execute(sql, list(params)).fetchall()

    rows = sorted(_parquet_rows(exported), key=lambda r: r["client_id"])
    sample = rows[:: max(1, len(rows) // 40)]
    assert len(sample) >= 30
    for row in sample:
        cid = row["client_id"]
        seg = query("""select primary_group, service_channel, lifecycle_stage,
                              churn_risk_level, churn_reasons, needs_risk_assessment,
                              churn_risk_score
                       from marts.client_segments where client_id = ?""", cid)[0]
        assert (row["primary_group"], row["service_channel"], row["lifecycle_stage"],
                row["churn_risk_level"], row["churn_reasons"], row["needs_risk_assessment"],
                row["churn_risk_score"]) == seg
        evidence = query("select evidence from marts.client_group_memberships "
                         "where client_id = ? and is_primary", cid)
        assert [(row["evidence"],)] == evidence
        top = query("select product_code, product_type from "
                    "marts.client_product_recommendations where client_id = ? "
                    "order by rank limit 3", cid)
        assert row["top_products"] == ",".join(p for p, _ in top)
        assert row["top_product_types"] == ",".join(t for _, t in top)
        name_zh = query("select group_name_zh from rules.rule_groups where group_code = ?",
                        row["primary_group"])
        assert [(row["primary_group_name_zh"],)] == name_zh
        assert row["next_action"] and row["next_action_zh"]
    con.close()
    # suitability: no exported product is rated above what its client may buy
    too_risky = _rows(db, """
        select count(*) from marts.client_outreach_lists as o,
            unnest(string_split(nullif(o.top_products, ''), ',')) as t(product_code)
        inner join marts.client_product_recommendations as r
            on r.client_id = o.client_id and r.product_code = t.product_code
        inner join marts.client_segments as s on s.client_id = o.client_id
        where (s.needs_risk_assessment and r.risk_rating <> 'R1')
           or (not s.needs_risk_assessment
               and cast(substr(r.risk_rating, 2) as int) > cast(substr(s.risk_level, 2) as int))
    """)[0][0]
    assert too_risky == 0
    assert any(r["needs_risk_assessment"] for r in rows)
    assert any(r["churn_risk_level"] == "high" for r in rows) or \
        any(r["churn_risk_level"] == "medium" for r in rows)


def test_filters_keep_exactly_what_they_name(built, exported, tmp_path):
    db = built[1]
    branch = _manifest(exported)[0]["branch_id"]
    out = tmp_path / "filtered"
    kequn("export", "--db", str(db), "--out", str(out), "--group", "silver_active,mass",
          "--branch", branch, "--lifecycle", "active,dormant", "--risk-level", "low",
          "--format", "csv")
    expected = _rows(db, """
        select client_id from marts.client_outreach_lists
        where is_contactable and primary_group in ('silver_active', 'mass')
          and coalesce(branch_id, 'unassigned') = ? and lifecycle_stage in ('active', 'dormant')
          and churn_risk_level = 'low' order by client_id""", branch)
    got = []
    for path in out.rglob("*.csv"):
        if path.name == "manifest.csv":
            continue
        with path.open(encoding="utf-8-sig") as f:
            got.extend((r["client_id"],) for r in csv.DictReader(f))
    assert sorted(got) == expected and len(expected) > 0
    assert not list(out.rglob("*.parquet")) and not list(out.rglob("*.xlsx"))
    # an unknown value is an error naming the value and where the known ones come from
    bad = kequn("export", "--db", str(db), "--out", str(tmp_path / "bad"), "--group",
                "silver_active,astronaut", check=False)
    assert bad.returncode == 2
    assert "--group" in bad.stderr and "'astronaut'" in bad.stderr
    assert "rules.rule_groups.group_code" in bad.stderr
    assert not (tmp_path / "bad").exists()


def _raw_pii(raw: Path) -> dict[str, set[str]]:
    con = duckdb.connect()
    try:
        found: dict[str, set[str]] = {c: set() for c in PII_COLUMNS}
        for path in (raw / "clients").iterdir():
            reader = "read_parquet" if path.suffix == ".parquet" else "read_csv"
            options = "" if path.suffix == ".parquet" else ", all_varchar = true"
            for column in PII_COLUMNS:
                found[column] |= {str(v[0]).strip() for v in con.execute(
                    f"select distinct {column} from {reader}('{path}'{options}) "
                    f"where {column} is not null").fetchall() if str(v[0]).strip()}
        return found
    finally:
        con.close()


def _cells(out: Path) -> list[tuple[str, set[str], set[str]]]:
    """(file, column names, every cell value as text) of every exported file."""
    from openpyxl import load_workbook

    files = []
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        if path.suffix == ".parquet":
            table = pq.read_table(path)
            values = {str(v) for col in table.columns for v in col.to_pylist() if v is not None}
            files.append((str(path), set(table.column_names), values))
        elif path.suffix == ".csv":
            with path.open(encoding="utf-8-sig") as f:
                reader = csv.reader(f)
                header = next(reader)
                files.append((str(path), set(header), {v for r in reader for v in r}))
        elif path.suffix == ".xlsx":
            ws = load_workbook(path, read_only=True).active
            rows = [[c for c in r] for r in ws.iter_rows(values_only=True)]
            files.append((str(path), set(rows[1]),
                          {str(v) for r in rows[2:] for v in r if v is not None}))
    return files


def test_no_pii_column_or_value_reaches_any_file(built, exported):
    pii = _raw_pii(built[0])
    assert all(len(v) > 100 for v in pii.values())
    files = _cells(exported)
    assert len(files) > 60
    long_values = pii["id_number"] | pii["phone"]
    for name, columns, values in files:
        assert not columns & set(PII_COLUMNS), name
        assert not values & (pii["name"] | long_values), name
        text = "\n".join(values)
        assert not [v for v in long_values if len(v) >= 8 and v in text], name


def _normalise(value: object) -> object:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime):
        return value.date()
    if value == "":
        return None
    return value


def test_xlsx_opens_with_chinese_and_english_headers_and_the_same_rows(built, exported):
    from openpyxl import load_workbook

    labels = _rows(built[1], "select label_zh, column_name from rules.outreach_column_labels "
                             "where is_exported order by column_order")
    checked = 0
    for m in _manifest(exported):
        stem = exported / m["outreach_list"] / m["branch_id"] / m["primary_group"]
        ws = load_workbook(stem.with_suffix(".xlsx"), read_only=True).active
        rows = list(ws.iter_rows(values_only=True))
        assert list(rows[0]) == [zh for zh, _ in labels]
        assert list(rows[1]) == [en for _, en in labels]
        parquet = pq.read_table(stem.with_suffix(".parquet")).to_pylist()
        assert [[_normalise(v) for v in r] for r in rows[2:]] == \
            [[_normalise(v) for v in r.values()] for r in parquet]
        checked += len(parquet)
    assert checked == sum(int(m["rows"]) for m in _manifest(exported))
    assert isinstance(pq.read_table(stem.with_suffix(".parquet"))["as_of_date"][0].as_py(), date)


def test_feast_layout_has_the_entity_and_timestamps(built, exported):
    db = built[1]
    features = pq.read_table(exported / "feast" / "client_features_monthly.parquet")
    labels = pq.read_table(exported / "feast" / "churn_labels.parquet")
    assert features.column_names[:3] == ["client_id", "event_timestamp", "created_timestamp"]
    assert str(features.schema.field("event_timestamp").type).startswith("timestamp")
    assert not any(str(f.type).startswith(("decimal", "date")) for f in features.schema)
    assert features.num_rows == _rows(db, "select count(*) from marts.client_features_monthly "
                                          "where is_month_end")[0][0]
    assert labels.num_rows == _rows(db, "select count(*) from "
                                        "marts.client_churn_training_set")[0][0]
    assert {"client_id", "event_timestamp", "is_churned_within_window"} <= set(labels.column_names)
