"""Staging on the hand-written extract (tests/fixtures/handwritten_extract).

Every expectation below is derived from the fixture files by construction — read the
files: each count is spelled out row by row in the comments — not from running the code.
"""

from __future__ import annotations

import csv
import hashlib
import shutil
from pathlib import Path

import duckdb
import pytest
from conftest import FIXTURES, isolated_env, kequn

from kequn.state import state_dir, working_db

EXTRACT = FIXTURES / "handwritten_extract"

# table: (raw, loaded, duplicate, rejected, orphan)
EXPECTED_RECONCILIATION = {
    # csv: C001-C011, a blank client_id, C012 with updated_at 'yesterday' (13 rows);
    # parquet: C001 re-delivered (same updated_at), C008's second version (2 rows).
    # Loaded: C001-C011 + C008 v2 = 12 versions; duplicate: C001's first copy.
    "clients": (15, 12, 1, 2, 0),
    # csv 1: A001-A010 (10); csv 2: A010 closed (newer version), a blank account_id,
    # A001 again (3). Duplicates: A010's old version, A001's earlier copy. Orphan: A008 -> C099.
    "accounts": (13, 10, 2, 1, 1),
    # csv: 6 products; parquet: SN2025001 re-delivered (R3) and a blank product_code.
    "products": (8, 6, 1, 1, 0),
    # csv: HKD/USD 11-27, hkd 11-28, USD 11-28 'N/A' (missing_value), EUR (unknown_code);
    # parquet: USD 11-28, HKD 11-27 re-delivered (later file wins: 0.915).
    "fx_rates": (7, 4, 1, 2, 0),
    # 10-31 csv: 3; 11-28 csv: 7 (A004 market value -500, A006 quantity 'abc'; A005 holds
    # 999999.SZ, unknown product); 11-29 parquet: A001 11-28 re-sent, A009 (YYYYMMDD date).
    "holdings": (12, 9, 1, 2, 1),
    # 10-31 csv: 3; 11-28 parquet: 7 (A004 cash 'abc', A005 margin -5; A404 unknown account);
    # 11-29 csv: A002 11-28 re-sent.
    "balances": (11, 8, 1, 2, 1),
    # csv: T001-T013 (T007 zero price, T008 amount 500 vs 400, T012 side 'hold', T013
    # trade_time '27/11/2025 10:00'; T009 on unknown account A999); parquet: T005
    # cancelled (newer version), T001 re-delivered, T014, T015 quantity 'N/A'.
    "trades": (17, 10, 2, 5, 1),
    # csv: X001-X006 (X004 amount -100, X006 direction 'sideways'; X005 on unknown A777);
    # parquet: X001 re-delivered, X007 amount 'abc'.
    "cash_transfers": (8, 4, 1, 3, 1),
    # csv: 7 (C009 count 0, C001 'teleport'; C404 unknown client); parquet: C001 login
    # 11-27 re-sent, C001 course_complete, C002 count '2.5'.
    "app_events": (10, 6, 1, 3, 1),
}

# (table, file under the table's folder, _row_in_file) -> (reject_reason, reject_column)
EXPECTED_REJECTS = {
    ("clients", "clients_2025-11-01.csv", 12): ("missing_key", "client_id"),
    ("clients", "clients_2025-11-01.csv", 13): ("unparseable_timestamp", "updated_at"),
    ("accounts", "accounts_2025-11-02.csv", 2): ("missing_key", "account_id"),
    ("products", "products_2025-11-02.parquet", 2): ("missing_key", "product_code"),
    ("fx_rates", "fx_rates_2025-11.csv", 4): ("missing_value", "cny_per_unit"),
    ("fx_rates", "fx_rates_2025-11.csv", 5): ("unknown_code", "currency"),
    ("holdings", "holdings_2025-11-28.csv", 3): ("negative_market_value", "market_value"),
    ("holdings", "holdings_2025-11-28.csv", 6): ("unparseable_number", "quantity"),
    ("balances", "balances_2025-11-28.parquet", 6): ("unparseable_number", "cash_balance"),
    ("balances", "balances_2025-11-28.parquet", 7): ("negative_margin_debt", "margin_debt"),
    ("trades", "trades_2025-11-27.csv", 7): ("zero_price", "price"),
    ("trades", "trades_2025-11-27.csv", 8): ("amount_mismatch", "amount"),
    ("trades", "trades_2025-11-27.csv", 12): ("unknown_code", "side"),
    ("trades", "trades_2025-11-27.csv", 13): ("unparseable_timestamp", "trade_time"),
    ("trades", "trades_2025-11-28.parquet", 4): ("missing_value", "quantity"),
    ("cash_transfers", "cash_transfers_2025-11.csv", 4): ("non_positive_amount", "amount"),
    ("cash_transfers", "cash_transfers_2025-11.csv", 6): ("unknown_code", "direction"),
    ("cash_transfers", "cash_transfers_2025-12-01.parquet", 2): ("unparseable_number", "amount"),
    ("app_events", "app_events_2025-11-27.csv", 6): ("non_positive_count", "event_count"),
    ("app_events", "app_events_2025-11-27.csv", 7): ("unknown_code", "event_type"),
    ("app_events", "app_events_2025-11-28.parquet", 3): ("unparseable_number", "event_count"),
}


@pytest.fixture(scope="module")
def con(handwritten_build: Path):
    # staging lives in the working database (the published file holds marts and rules)
    connection = duckdb.connect(str(working_db(handwritten_build)), read_only=True)
    yield connection
    connection.close()


def _fixture_pii() -> set[str]:
    """Every name, phone and id_number written in the fixture's client files."""
    values: set[str] = set()
    reader = duckdb.connect()
    for path in sorted((EXTRACT / "clients").iterdir()):
        if path.suffix == ".csv":
            rel = f"read_csv('{path}', all_varchar = true, header = true)"
        else:
            rel = f"read_parquet('{path}')"
        for row in reader.execute(f"select name, phone, id_number from {rel}").fetchall():
            values.update(v.strip() for v in row if v and v.strip())
    reader.close()
    return values


def test_every_raw_row_is_loaded_duplicate_or_rejected(con):
    rows = con.execute(
        "select table_name, raw_rows, loaded_rows, duplicate_rows, rejected_rows, orphan_rows "
        "from marts.dq_reconciliation"
    ).fetchall()
    actual = {r[0]: tuple(r[1:]) for r in rows}
    assert actual == EXPECTED_RECONCILIATION


def test_rejected_rows_carry_the_expected_reason(con):
    actual = {}
    for table in EXPECTED_RECONCILIATION:
        for src, row, reason, column in con.execute(
            "select _source_file, _row_in_file, reject_reason, reject_column "
            f"from staging.stg_brokerage__{table}_rejected"
        ).fetchall():
            folder, _, name = src.partition("/")
            assert folder == table
            actual[(table, name, row)] = (reason, column)
    assert actual == EXPECTED_REJECTS


def test_fixture_pii_is_nowhere_in_clear(con):
    pii = _fixture_pii()
    # Names, phones and IDs of the 13 rows of the first file, fewer duplicates.
    assert len(pii) >= 30 and "Fakename Alpha" in pii and "999999650415123" in pii
    columns = con.execute(
        "select table_schema, table_name, column_name from information_schema.columns "
        "where data_type = 'VARCHAR'"
    ).fetchall()
    assert columns, "no text columns to scan"
    found = []
    for schema, table, column in columns:
        quoted = f'"{schema}"."{table}"'
        condition = " or ".join(f'contains("{column}", ?)' for _ in pii)
        hits = con.execute(
            f"select count(*) from {quoted} where {condition}", list(pii)
        ).fetchone()[0]
        if hits:
            found.append(f"{schema}.{table}.{column}: {hits} rows")
    assert found == []
    # No view keeps SQL text in the file (it could hold the PII hash key).
    views = con.execute(
        "select schema_name, view_name from duckdb_views() where not internal"
    ).fetchall()
    staging_views = [v for v in views if v[0] == "staging"]
    assert staging_views == []


def test_person_key_is_a_keyed_hash_and_the_key_is_not_stored(con):
    dev_key = "kequn-dev-key-change-me"  # dbt_project.yml's default for var pii_hash_key
    # C001's ID in the fixture: the keyed hash matches, the bare (dictionary-attackable) does not.
    id_number = "99999919900512001X"
    (person_key,) = con.execute(
        "select distinct person_key from staging.stg_brokerage__clients where client_id = 'C001'"
    ).fetchone()
    assert person_key == hashlib.sha256((dev_key + id_number).encode()).hexdigest()
    assert person_key != hashlib.sha256(id_number.encode()).hexdigest()
    # Neither the key nor any ID appears in stored SQL text or comments.
    texts = con.execute(
        "select sql from duckdb_views() where not internal "
        "union all select sql from duckdb_tables() "
        "union all select comment from duckdb_tables() where comment is not null "
        "union all select comment from duckdb_columns() where comment is not null"
    ).fetchall()
    assert texts
    leaked = [t for (t,) in texts if t and (dev_key in t or id_number in t)]
    assert leaked == []


def test_clients_rules_on_known_rows(con):
    rows = {
        (r[0], str(r[1])): r[2:]
        for r in con.execute(
            "select client_id, updated_at, id_number_status, cast(birth_date as varchar), "
            "birth_date_issue, gender, occupation, is_current_version, nulled_raw_values "
            "from staging.stg_brokerage__clients"
        ).fetchall()
    }
    v = "2025-01-01 09:00:00"
    # C003: valid ID says 1985-07-20, the typed field 1986/7/20 -> the ID wins.
    assert rows[("C003", v)][:4] == ("valid", "1985-07-20", "disagrees_with_id", "F")
    # C004: ID fails its checksum -> typed 1971/2/3 and gender '1' (M) are used.
    assert rows[("C004", v)][:4] == ("invalid_checksum", "1971-02-03", None, "M")
    # C005: 15-char ID 999999650415123 -> 1965-04-15, sex digit 3 -> M.
    assert rows[("C005", v)][:4] == ("legacy_15", "1965-04-15", None, "M")
    # C009: born 2030 (future) and occupation 'astronaut' (unknown).
    assert rows[("C009", v)][1:3] == (None, "future")
    assert rows[("C009", v)][6] == "occupation=astronaut"
    # C010: born 1890 -> over 120; malformed ID '12345'.
    assert rows[("C010", v)][:3] == ("malformed", None, "over_120")
    # C002: Chinese gender and occupation.
    assert rows[("C002", v)][3:5] == ("F", "retired")
    # C008: two CDC versions, the later one (职员 -> employee) current.
    assert rows[("C008", "2025-10-01 09:00:00")][4:6] == ("student", False)
    assert rows[("C008", "2025-11-02 10:00:00")][4:6] == ("employee", True)
    # The re-delivered C001 is one row, from the later (Parquet) file.
    assert con.execute(
        "select _source_file from staging.stg_brokerage__clients where client_id = 'C001'"
    ).fetchall() == [("clients/clients_2025-11-02.parquet",)]


def test_facts_rules_on_known_rows(con):
    one = lambda sql: con.execute(sql).fetchall()  # noqa: E731
    # T005 was cancelled by a later version; T001 re-delivered stays filled.
    assert one("select trade_id, status, is_filled from staging.stg_brokerage__trades "
               "where trade_id in ('T001', 'T005') order by 1") == [
        ("T001", "filled", True), ("T005", "cancelled", False)]
    # T010 at 02:30 UTC is 10:30 Shanghai; T002 at +08:00 stays 10:30; T003 compact format.
    assert one("select trade_id, strftime(traded_at, '%Y-%m-%d %H:%M:%S'), side "
               "from staging.stg_brokerage__trades where trade_id in ('T002', 'T003', 'T010') "
               "order by 1") == [
        ("T002", "2025-11-27 10:30:00", "sell"),
        ("T003", "2025-11-27 14:00:00", "subscribe"),
        ("T010", "2025-11-27 10:30:00", "buy")]
    # Later file wins: fx HKD 11-27 -> 0.915, holdings A001 11-28 -> 161000, SN2025001 -> R3.
    assert one("select cast(cny_per_unit as double) from staging.stg_brokerage__fx_rates "
               "where currency = 'HKD' and rate_date = date '2025-11-27'") == [(0.915,)]
    assert one("select cast(market_value_local as double) from staging.stg_brokerage__holdings "
               "where account_id = 'A001' and snapshot_date = date '2025-11-28'") == [(161000.0,)]
    assert one("select risk_rating, product_type from staging.stg_brokerage__products "
               "where product_code = 'SN2025001'") == [("R3", "wealth_product")]
    # A010's newer version closed it.
    assert one("select status from staging.stg_brokerage__accounts "
               "where account_id = 'A010'") == [("closed",)]
    # Blank margin debt is 0; '1,000.50' keeps its decimals.
    assert one("select cast(cash_balance as double), cast(margin_debt as double) "
               "from staging.stg_brokerage__balances where account_id = 'A003' "
               "and snapshot_date = date '2025-10-31'") == [(1000.5, 0.0)]


def test_missing_required_column_fails_landing(tmp_path):
    raw = tmp_path / "raw"
    shutil.copytree(EXTRACT, raw)
    path = raw / "holdings" / "holdings_2025-10-31.csv"
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    drop = rows[0].index("market_value")
    with path.open("w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows([r[:drop] + r[drop + 1:] for r in rows])
    proc = kequn("build", "--raw-dir", str(raw), "--db", str(tmp_path / "w" / "kequn.duckdb"),
                 env=isolated_env(tmp_path), check=False, timeout=300)
    assert proc.returncode != 0
    assert "holdings" in proc.stderr and "market_value" in proc.stderr


def test_the_handwritten_extract_has_no_conflicting_rows(con):
    """Its repeated keys all sit in later files or repeat identically: no conflicts."""
    assert con.execute("select sum(conflicting_rows) from marts.dq_reconciliation"
                       ).fetchone()[0] == 0


# A delivery file that contradicts itself (issue 14), added to a copy of the fixture:
# A001's 600519.SH on 2025-11-28 twice with different values (the generator's old
# zero-quantity bug: a position and a line of zeros for one key), A003's fund twice
# identically (a plain duplicate), and A002's 00700.HK in a *later* file with a new value
# (a re-delivery: the later file wins).
CONFLICT_FILE = (
    "snapshot_date,account_id,product_code,quantity,market_value,cost_value,is_restricted\n"
    "2025-11-28,A001,600519.SH,455300,409314.70,400000,N\n"
    "2025-11-28,A001,600519.SH,0,0,0,N\n"
    "2025-11-28,A003,000001.OF,5000,\"5,001.00\",5000,N\n"
    "2025-11-28,A003,000001.OF,5000,5001,5000,N\n"
)


@pytest.fixture(scope="module")
def conflict_build(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("conflicts")
    raw = tmp / "raw"
    shutil.copytree(EXTRACT, raw)
    (raw / "holdings" / "holdings_2025-11-30.csv").write_text(CONFLICT_FILE, encoding="utf-8")
    db = tmp / "w" / "kequn.duckdb"
    kequn("build", "--raw-dir", str(raw), "--db", str(db), env=isolated_env(tmp))
    return db


def test_rows_contradicting_their_own_file_are_rejected_and_counted(conflict_build):
    # staging and the rejects live in the working database (the published file holds marts)
    work = working_db(conflict_build)
    con = duckdb.connect(str(work), read_only=True)
    try:
        # 12 + 4 raw rows. A001 600519.SH 11-28: the 11-28 csv row and the 11-29 re-send
        # stay valid (1 loaded + 1 duplicate as before), the two rows of 11-30 contradict:
        # both rejected. A003's fund: the 11-30 pair agrees as typed (5,001.00 = 5001), so
        # with the 11-28 row it is one loaded row and two duplicates.
        raw, loaded, dup, rej, conflicting = con.execute(
            "select raw_rows, loaded_rows, duplicate_rows, rejected_rows, conflicting_rows "
            "from marts.dq_reconciliation where table_name = 'holdings'").fetchone()
        base = EXPECTED_RECONCILIATION["holdings"]
        assert (raw, loaded, dup, rej, conflicting) == (
            base[0] + 4, base[1], base[2] + 2, base[3] + 2, 2)
        rejected = con.execute(
            "select _source_file, _row_in_file, account_id, product_code, reject_column "
            "from staging.stg_brokerage__holdings_rejected "
            "where reject_reason = 'conflicting_rows_in_file' order by 2").fetchall()
        assert rejected == [("holdings/holdings_2025-11-30.csv", 1, "A001", "600519.SH",
                             "product_code"),
                            ("holdings/holdings_2025-11-30.csv", 2, "A001", "600519.SH",
                             "product_code")]
        # the position keeps the value of the last delivery that was not contradicted
        assert con.execute(
            "select cast(market_value_local as double), _source_file "
            "from staging.stg_brokerage__holdings where account_id = 'A001' "
            "and product_code = '600519.SH' and snapshot_date = date '2025-11-28'"
        ).fetchall()[0][1].endswith("holdings_2025-11-29.parquet")
        landed = dict(con.execute(
            "select table_name, raw_rows from marts.dq_reconciliation").fetchall())
    finally:
        con.close()
    # the build report lists the key, its file and its rows
    report = sorted((state_dir(conflict_build) / "builds").glob("*/report.html"))[-1]
    page = report.read_text(encoding="utf-8")
    assert "Rows contradicting their own file" in page
    assert "holdings_2025-11-30.csv" in page and "account_id=A001" in page
    # the marts gate judges their share: at the committed limit a few rows pass (16 rows are
    # under min_rows_for_rates), over a limit of 0 for every table size the table fails
    from kequn import gates

    ok = gates.run_marts_gate(work, conflict_build.parent / "g1",
                              gates.load_thresholds(), landed)
    assert ok.success, [f.line() for f in ok.findings]
    strict = gates.run_marts_gate(
        work, conflict_build.parent / "g2",
        gates.load_thresholds({"max_conflicting_share": 0.0, "min_rows_for_rates": 1,
                               "max_reject_rate": 1.0, "max_orphan_rate": 1.0}), landed)
    assert not strict.success
    lines = [f.line() for f in strict.findings]
    assert len(lines) == 1 and "conflicting_rows" in lines[0], lines
    assert '"table_name": "holdings"' in lines[0], lines
