"""`kequn generate`: contract conformance, determinism, planted dirt, truth, --append-day.

Every check reads the files actually written (with DuckDB, every value as text), never the
generator's own bookkeeping, so a generator that stops planting something fails here.
"""

from __future__ import annotations

import hashlib
import json
import re
from argparse import Namespace
from datetime import date, datetime
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from kequn.contract import raw_tables
from kequn.generate import run_generate
from kequn.landing import delivered_relation, land

SCALE = 0.006  # 600 clients
WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]


def generate(out: Path, *, scale: float = SCALE, seed: int = 42, truth: Path | None = None,
             append: bool = False) -> int:
    return run_generate(Namespace(scale=scale, out=out, seed=seed, ref_date=None, truth=truth,
                                  append_day=append, no_progress=True))


def checksum_ok(idn: str) -> bool:
    """ISO 7064 MOD 11-2 check of an 18-character PRC resident ID."""
    if len(idn) != 18 or not idn[:17].isdigit():
        return False
    total = sum(int(ch) * w for ch, w in zip(idn[:17], WEIGHTS, strict=True))
    return "10X98765432"[total % 11] == idn[17].upper()


def file_digests(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def extract(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("gen") / "raw"
    assert generate(out) == 0
    return out


@pytest.fixture(scope="module")
def con(extract):
    """DuckDB tables loaded from every file, all values as text, plus the file name."""
    c = duckdb.connect()
    for table in raw_tables():
        parts = []
        folder = extract / table
        if list(folder.glob("*.csv")):
            parts.append(f"select * from read_csv('{folder}/*.csv', all_varchar = true, "
                         "union_by_name = true, filename = true)")
        if list(folder.glob("*.parquet")):
            parts.append(f"select * from read_parquet('{folder}/*.parquet', "
                         "union_by_name = true, filename = true)")
        c.execute(f"create table {table} as {' union all by name '.join(parts)}")
    return c


# --------------------------------------------------------------------------- contract
def test_every_table_folder_with_csv_and_parquet(extract):
    kinds = set()
    for table in raw_tables():
        folder = extract / table
        assert folder.is_dir(), f"missing table folder {table}"
        files = [p for p in folder.iterdir() if p.is_file()]
        assert len(files) >= 2, f"{table}: expected several files, got {files}"
        kinds |= {p.suffix for p in files}
    assert kinds == {".csv", ".parquet"}
    for table in ("trades", "holdings", "clients", "app_events"):
        suffixes = {p.suffix for p in (extract / table).iterdir()}
        assert suffixes == {".csv", ".parquet"}, f"{table} should mix CSV and Parquet"


def test_every_contract_column_in_every_file_and_parquet_is_text(extract):
    c = duckdb.connect()
    for table, columns in raw_tables().items():
        for path in sorted((extract / table).iterdir()):
            if path.suffix == ".parquet":
                schema = pq.read_schema(path)
                present = schema.names
                for field in schema:
                    assert str(field.type) == "string", f"{path}: {field.name} is {field.type}"
            else:
                present = [r[0] for r in c.execute(
                    f"describe select * from read_csv('{path}', all_varchar = true)").fetchall()]
            missing = [col for col in columns if col not in present]
            assert not missing, f"{path} lacks {missing}"
            assert all(col == col.lower() for col in present)


def test_daily_csv_for_latest_month_and_monthly_parquet_history(extract):
    trades = sorted(p.name for p in (extract / "trades").iterdir())
    assert "2025-11-28.csv" in trades and "2024-10.parquet" in trades
    snaps = sorted(p.stem for p in (extract / "holdings").iterdir())
    month_ends = [s for s in snaps if s < "2025-11"]
    assert len(month_ends) == 24 and month_ends[0] == "2023-11-30"
    daily = [s for s in snaps if s >= "2025-11" and "_" not in s]
    assert len(daily) == 20 and daily[-1] == "2025-11-28"
    assert all(date.fromisoformat(d).weekday() < 5 for d in daily)


def test_fx_rates_daily_weekdays_for_hkd_and_usd(con):
    rows = con.execute("select distinct rate_date, currency from fx_rates").fetchall()
    assert {r[1] for r in rows} == {"HKD", "USD"}
    days = {date.fromisoformat(r[0]) for r in rows}
    assert all(d.weekday() < 5 for d in days)
    assert date(2025, 11, 28) in days and date(2025, 11, 27) in days


def test_some_file_adds_an_extra_column(extract):
    c = duckdb.connect()
    extra = []
    for table, columns in raw_tables().items():
        for path in (extract / table).iterdir():
            if path.suffix == ".parquet":
                names = pq.read_schema(path).names
            else:
                names = [r[0] for r in c.execute(
                    f"describe select * from read_csv('{path}', all_varchar = true)").fetchall()]
            extra += [(table, path.name, n) for n in names if n not in columns]
    assert any(t == "trades" and p.endswith(".csv") and n == "source_system"
               for t, p, n in extra), extra
    assert any(p.endswith(".parquet") for _t, p, _n in extra)


# --------------------------------------------------------------------------- truth
def test_truth_lies_beside_the_extract(extract):
    truth = extract.parent / "raw.truth"
    assert (truth / "personas.parquet").is_file()
    meta = json.loads((truth / "meta.json").read_text())
    dirt = json.loads((truth / "dirt.json").read_text())
    assert meta["ref_date"] == "2025-11-28" and meta["seed"] == 42
    assert set(meta["row_counts"]) == set(raw_tables())
    assert dirt["trades"]["duplicate_redelivery"] > 0
    inside = {p.name for p in extract.rglob("*")}
    assert not inside & {"personas.parquet", "meta.json", "dirt.json"}


def test_truth_inside_the_extract_is_refused(tmp_path):
    out = tmp_path / "raw"
    assert generate(out, scale=0.001, truth=out / "truth") == 2


def test_personas_cover_every_client_group_and_stage(extract, con):
    p = pq.read_table(extract.parent / "raw.truth" / "personas.parquet").to_pandas()
    ids = {r[0] for r in con.execute("select distinct client_id from clients").fetchall()}
    assert p.client_id.is_unique and set(p.client_id) == ids
    ind = p[p.client_type == "individual"]
    groups = set(ind.planted_groups.str.split(",").explode()) - {""}
    assert groups == {"tech_executive", "sme_owner", "silver_active", "full_time_mom",
                      "college_student", "independent_woman", "gen_z"}
    assert set(ind.planted_lifecycle) == {"closed", "churned", "zombie", "new", "dormant",
                                          "active"}
    # primary group = first code in priority order, 'mass' when none
    first = ind.planted_groups.str.split(",").str[0].replace("", "mass")
    assert (first == ind.planted_primary_group).all()
    assert {"institution", "test"} <= set(p.client_type)
    assert p.is_churner.any() and (p.dirt_affecting_segmentation != "").any()
    # the rules, re-applied to the truth's own attributes
    age = ind.age
    assert ((ind.planted_groups.str.contains("silver_active")) == age.between(60, 69)).all()
    assert (ind.planted_primary_group[ind.planted_groups == ""] == "mass").all()
    # a wealth pyramid with a thin high-net-worth tail
    assets = ind.total_assets
    assert (assets < 10_000).mean() > 0.3 and 0 < (assets >= 1_000_000).mean() < 0.08


def test_truth_lifecycle_matches_the_files_for_churned_and_zombie(extract, con):
    """Independent check: churned clients hold < 100 on the latest snapshot and have no
    filled trade in the last 90 days; zombies never traded."""
    p = pq.read_table(extract.parent / "raw.truth" / "personas.parquet").to_pandas()
    churned = set(p.client_id[p.planted_lifecycle == "churned"])
    zombies = set(p.client_id[p.planted_lifecycle == "zombie"])
    assert churned and zombies
    traded = con.execute("""
        select a.client_id, max(substr(replace(t.trade_time, '-', ''), 1, 8)) as last_day
        from trades t
        join (select distinct account_id, client_id from accounts) a using (account_id)
        where trim(lower(t.status)) = 'filled' and t.trade_id not in
              (select trade_id from trades where trim(lower(status)) = 'cancelled')
        group by 1""").fetchall()
    last = dict(traded)
    assert not zombies & set(last)
    assert all(last.get(c, "0") <= "20250830" for c in churned)


OCC_LABELS = {"学生": "student", "全职家庭主妇": "homemaker", "家庭主妇": "homemaker",
              "职员": "employee", "专业人士": "professional", "公务员": "civil_servant",
              "企业高管": "executive", "企业主": "business_owner", "私营业主": "business_owner",
              "个体工商户": "self_employed", "退休": "retired", "无业": "unemployed",
              "农民": "farmer", "其他": "other"}
GENDER = {"m": "M", "male": "M", "男": "M", "1": "M", "f": "F", "female": "F", "女": "F", "2": "F"}


def test_current_client_versions_agree_with_the_truth(extract, con):
    """The latest version of each client, decoded independently, matches the personas."""
    p = pq.read_table(extract.parent / "raw.truth" / "personas.parquet").to_pandas()
    truth = p.set_index("client_id")
    rows = con.execute("""
        select client_id, occupation, gender, birth_date from clients
        qualify row_number() over (partition by client_id
                                   order by updated_at desc, filename desc) = 1""").fetchall()
    occ_ok = occ_n = g_ok = g_n = b_ok = b_n = 0
    for cid, occ, gender, birth in rows:
        t = truth.loc[cid]
        if t.client_type != "individual":
            continue
        if occ and occ.strip() and isinstance(t.occupation, str):
            label = occ.strip().lower()
            occ_n += 1
            occ_ok += OCC_LABELS.get(label, label) == t.occupation
        if gender and gender.strip():
            g_n += 1
            g_ok += GENDER[gender.strip().lower()] == t.gender
        if birth and len(birth) == 10 and birth[4] == "-":
            b_n += 1
            b_ok += birth == str(t.birth_date)
    assert occ_n > 300 and occ_ok >= 0.96 * occ_n, (occ_ok, occ_n)
    assert g_n > 300 and g_ok == g_n
    assert b_n > 200 and 0.95 * b_n <= b_ok < b_n  # typed dates may disagree with the ID


def test_flagged_birth_dates_are_really_unrecoverable(extract, con):
    """A client flagged birth_date_<kind>_and_id_<kind> has, in its latest version, a bad
    typed birth date and no valid ID to fall back on; unflagged clients never do."""
    p = pq.read_table(extract.parent / "raw.truth" / "personas.parquet").to_pandas()
    flagged = set(p.client_id[p.dirt_affecting_segmentation.str.contains("birth_date_")])
    rows = con.execute("""
        select client_id, birth_date, id_number from clients
        where coalesce(trim(client_type), '') not in ('institution', 'test')
        qualify row_number() over (partition by client_id
                                   order by updated_at desc, filename desc) = 1""").fetchall()
    bad = set()
    for cid, birth, idn in rows:
        b = (birth or "").strip()
        parsed = None
        for fmt in ("%Y-%m-%d", "%Y%m%d", "%Y/%m/%d"):
            try:
                parsed = datetime.strptime(b, fmt).date()
                break
            except ValueError:
                continue
        typed_ok = parsed is not None and date(1905, 12, 1) < parsed <= date(2025, 11, 28)
        if not typed_ok and not (idn and checksum_ok(idn.strip())):
            bad.add(cid)
    assert flagged, "no unrecoverable birth dates planted"
    assert bad == flagged


# --------------------------------------------------------------------------- dirt
def test_duplicate_and_cancelled_trades(con):
    dup = con.execute("""
        select count(*) from (
          select trade_id from trades where trim(lower(status)) = 'filled'
          group by trade_id, account_id, trade_time, amount having count(distinct filename) > 1)
    """).fetchone()[0]
    assert dup > 0
    cancelled = con.execute("""
        select count(*) from trades c join trades f using (trade_id)
        where trim(lower(c.status)) = 'cancelled' and trim(lower(f.status)) = 'filled'
          and c.updated_at > f.updated_at and c.filename >= f.filename""").fetchone()[0]
    assert cancelled > 0


def test_codes_in_several_languages_and_cases(con):
    genders = {r[0] for r in con.execute("select distinct gender from clients").fetchall()}
    assert {"男", "女", "M", "F"} <= genders and ({"1", "2"} & genders)
    occ = {r[0] for r in con.execute("select distinct occupation from clients").fetchall()}
    assert {"学生", "退休"} & occ and "employee" in occ
    assert any(o and (o != o.strip() or o != o.lower()) for o in occ)
    sides = {r[0] for r in con.execute("select distinct side from trades").fetchall()}
    assert {"B", "S", "买入", "卖出"} <= sides and "subscribe" in sides
    dirs = {r[0] for r in con.execute("select distinct direction from cash_transfers").fetchall()}
    assert {"in", "out", "转入", "转出"} <= dirs


def test_dates_in_every_listed_format(con):
    births = [r[0] for r in con.execute(
        "select birth_date from clients where birth_date is not null").fetchall()]
    assert any(len(b) == 10 and b[4] == "-" for b in births)
    assert any(len(b) == 8 and b.isdigit() for b in births)
    assert any("/" in b for b in births)
    times = [r[0] for r in con.execute("select trade_time from trades").fetchall()]
    assert any(t.endswith("+08:00") and "T" in t for t in times)
    assert any(len(t) == 15 and t[8] == " " for t in times)


def test_id_numbers_valid_missing_legacy_and_bad(con):
    rows = con.execute("select id_number, gender, birth_date from clients "
                       "where coalesce(client_type, '') not in ('institution', 'test')").fetchall()
    ids = [r[0] for r in rows]
    valid = [i for i in ids if i and checksum_ok(i)]
    assert len(valid) > 0.9 * len(ids)
    assert any(i is None or i.strip() == "" for i in ids)
    assert any(i and len(i) == 15 for i in ids)
    assert any(i and len(i) == 18 and not checksum_ok(i) for i in ids)
    # valid ids encode birth date and gender of the row (most rows agree)
    male = {"M", "male", "男", "1"}
    female = {"F", "female", "女", "2"}
    agree = disagree = 0
    for idn, gender, birth in rows:
        if idn and checksum_ok(idn) and gender in male | female:
            ok = (int(idn[16]) % 2 == 1) == (gender in male)
            agree += ok
            disagree += not ok
        if idn and checksum_ok(idn) and birth and len(birth) == 10 and birth[4] == "-":
            pass
    assert disagree == 0 and agree > 500
    iso = [(i, b) for i, _g, b in rows if i and checksum_ok(i) and b and len(b) == 10
           and b[4] == "-"]
    same = sum(i[6:14] == b.replace("-", "") for i, b in iso)
    assert 0.9 * len(iso) < same < len(iso)  # mostly agree, some disagree


def test_impossible_values(con):
    future = con.execute("""select count(*) from clients
        where try_strptime(birth_date, '%Y-%m-%d') > date '2025-11-28'
           or try_strptime(birth_date, '%Y%m%d') > date '2025-11-28'
           or try_strptime(birth_date, '%Y/%-m/%-d') > date '2025-11-28'""").fetchone()[0]
    assert future > 0
    neg = con.execute("select count(*) from holdings where market_value like '-%'").fetchone()[0]
    assert neg > 0
    negq = con.execute("select count(*) from holdings where quantity like '-%'").fetchone()[0]
    assert negq > 0
    zero_price = con.execute(
        "select count(*) from trades where try_cast(price as double) = 0").fetchone()[0]
    assert zero_price > 0
    mismatch = con.execute("""select count(*) from trades
        where try_cast(price as double) > 0 and try_cast(amount as double) >
              1.05 * try_cast(quantity as double) * try_cast(price as double)""").fetchone()[0]
    assert mismatch > 0
    not_numbers = con.execute("""select count(*) from holdings
        where market_value is not null and trim(market_value) <> ''
          and try_cast(market_value as double) is null""").fetchone()[0]
    assert not_numbers > 0


def test_orphans_and_several_versions(con):
    orphan_trades = con.execute("""select count(*) from trades
        where account_id not in (select account_id from accounts)""").fetchone()[0]
    assert orphan_trades > 0
    orphan_accounts = con.execute("""select count(*) from accounts
        where client_id not in (select client_id from clients)""").fetchone()[0]
    assert orphan_accounts > 0
    unknown_products = con.execute("""select count(*) from holdings
        where product_code not in (select product_code from products)""").fetchone()[0]
    assert unknown_products > 0
    versions = con.execute("""select count(*) from (select client_id from clients
        group by 1 having count(distinct updated_at) > 1)""").fetchone()[0]
    assert versions > 20


def test_restricted_star_and_margin(con):
    star = con.execute("""select count(*) from holdings h join products p using (product_code)
        where h.is_restricted = 'Y' and p.board = 'star'""").fetchone()[0]
    assert star > 0
    debt = con.execute("select count(*) from balances where try_cast(margin_debt as double) > 0"
                       ).fetchone()[0]
    assert debt > 0
    cur = {r[0] for r in con.execute("select distinct currency from products").fetchall()}
    assert cur == {"CNY", "HKD", "USD"}


# --------------------------------------------------------------------------- determinism
def test_same_seed_same_bytes_other_seed_differs(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    assert generate(a, scale=0.002) == 0
    assert generate(b, scale=0.002) == 0
    assert generate(c, scale=0.002, seed=7) == 0
    da, db, dc = file_digests(a), file_digests(b), file_digests(c)
    assert da == db
    assert file_digests(tmp_path / "a.truth") == file_digests(tmp_path / "b.truth")
    assert da != dc and any(da[f] != dc.get(f) for f in da)


def test_refuses_to_overwrite(tmp_path):
    out = tmp_path / "raw"
    assert generate(out, scale=0.001) == 0
    assert generate(out, scale=0.001) == 2


# --------------------------------------------------------------------------- append-day
def test_append_day_adds_files_and_lands(tmp_path):
    out = tmp_path / "raw"
    assert generate(out, scale=0.003) == 0
    before = file_digests(out)
    assert generate(out, scale=0.003, append=True) == 0
    after = file_digests(out)
    assert {f: after[f] for f in before} == before, "an existing file changed"
    new = sorted(set(after) - set(before))
    for table in ("trades", "cash_transfers", "app_events", "holdings", "balances", "fx_rates",
                  "clients", "accounts"):
        assert f"{table}/2025-12-01.csv" in new, (table, new)
    meta = json.loads((tmp_path / "raw.truth" / "meta.json").read_text())
    assert meta["ref_date"] == "2025-12-01"
    # a second append is the next weekday; both land cleanly
    assert generate(out, scale=0.003, append=True) == 0
    assert (out / "trades" / "2025-12-02.csv").is_file()
    meta = json.loads((tmp_path / "raw.truth" / "meta.json").read_text())
    assert meta["appended_days"] == ["2025-12-01", "2025-12-02"]
    assert set(meta["files"]) == set(file_digests(out))
    p = pq.read_table(tmp_path / "raw.truth" / "personas.parquet").to_pandas()
    ind = p[p.client_type == "individual"]
    as_of = date(2025, 12, 2)
    ages = ind.birth_date.map(lambda b: as_of.year - b.year - ((as_of.month, as_of.day)
                                                              < (b.month, b.day)))
    assert (ages == ind.age).all()
    assert set(ind.planted_lifecycle) <= {"closed", "churned", "zombie", "new", "dormant",
                                          "active"}
    report = land(out, tmp_path / "landing", progress=False)
    assert report.tables["trades"].files_total == report.tables["trades"].files_new
    snap = duckdb.connect().execute(
        f"select max(snapshot_date) from {delivered_relation(tmp_path / 'landing', 'holdings')} "
        "where snapshot_date like '____-__-__'"
    ).fetchone()[0]
    assert snap == "2025-12-02"


def test_append_day_is_deterministic(tmp_path):
    for name in ("a", "b"):
        assert generate(tmp_path / name, scale=0.002) == 0
        assert generate(tmp_path / name, scale=0.002, append=True) == 0
    assert file_digests(tmp_path / "a") == file_digests(tmp_path / "b")
    assert file_digests(tmp_path / "a.truth") == file_digests(tmp_path / "b.truth")


def test_job_titles_name_an_executive_role_exactly_when_meant():
    """Plain titles must not contain a keyword of the spec's executive list (a substring
    match would misread them), and every executive title must contain one."""
    from kequn.generator.common import EXEC_KEYWORDS, EXEC_TITLES, PLAIN_TITLES

    assert all(any(k in t.lower() for k in EXEC_KEYWORDS) for t in EXEC_TITLES)
    assert not [t for t in PLAIN_TITLES if any(k in t.lower() for k in EXEC_KEYWORDS)]


# --------------------------------------------------------------------------- grain per file
# The grain key of each table as the contract states it (a CDC table's version is its id
# and updated_at), normalised the way any reader would: dates with or without dashes,
# codes trimmed and in one case.
GRAIN = {
    "clients": ["client_id", "updated_at"],
    "accounts": ["account_id", "updated_at"],
    "products": ["upper(trim(product_code))"],
    "fx_rates": ["replace(rate_date, '-', '')", "upper(trim(currency))"],
    "holdings": ["replace(snapshot_date, '-', '')", "account_id", "upper(trim(product_code))"],
    "balances": ["replace(snapshot_date, '-', '')", "account_id"],
    "trades": ["trade_id", "updated_at"],
    "cash_transfers": ["transfer_id"],
    "app_events": ["replace(event_date, '-', '')", "client_id", "lower(trim(event_type))",
                   "lower(trim(device))"],
}


def _repeated_keys_per_file(c: duckdb.DuckDBPyConnection, table: str) -> list[tuple]:
    key = ", ".join(GRAIN[table])
    return c.execute(f"""
        select filename, {key}, count(*) as n from {table}
        group by all having count(*) > 1 limit 5""").fetchall()


@pytest.mark.parametrize("table", sorted(GRAIN))
def test_every_table_respects_its_grain_within_each_file(con, table):
    """No key appears twice in one delivery file (not even as an identical copy): only a
    later file may repeat or correct a key."""
    assert _repeated_keys_per_file(con, table) == []


def test_appended_day_respects_the_grain_within_its_files(tmp_path):
    out = tmp_path / "raw"
    assert generate(out, scale=0.003) == 0
    assert generate(out, scale=0.003, append=True) == 0
    c = duckdb.connect()
    for table in GRAIN:
        path = out / table / "2025-12-01.csv"
        if path.exists():
            c.execute(f"create table {table} as select * from read_csv('{path}', "
                      "all_varchar = true, filename = true)")
            assert _repeated_keys_per_file(c, table) == [], table


def test_zero_quantity_lines_are_closed_positions_of_their_own(con):
    """A zero-quantity line names a product its account does not hold that day, so it never
    contradicts a position in the same snapshot (issue 14)."""
    zero, clash = con.execute("""
        with z as (
          select * from holdings
          where quantity = '0' and market_value = '0' and cost_value = '0')
        select
          (select count(*) from z),
          (select count(*) from z join holdings h
             on h.account_id = z.account_id and h.product_code = z.product_code
            and replace(h.snapshot_date, '-', '') = replace(z.snapshot_date, '-', '')
            and h.filename = z.filename and h.quantity <> '0')""").fetchone()
    assert zero > 0 and clash == 0


def test_thousands_separators_are_well_formed(con):
    """Where a number is written with thousands separators, the groups are of three digits
    (2,248,084.30, never 2248,084.30)."""
    columns = {"holdings": "market_value", "balances": "cash_balance", "trades": "amount",
               "cash_transfers": "amount"}
    seen = 0
    for table, col in columns.items():
        rows = con.execute(f"select {col} from {table} where {col} like '%,%'").fetchall()
        bad = [r[0] for r in rows
               if not re.fullmatch(r"-?[1-9][0-9]{0,2}(,[0-9]{3})+\.[0-9]{2}", r[0])]
        assert bad == [], (table, bad[:5])
        seen += len(rows)
    assert seen > 0
