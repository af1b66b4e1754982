"""Data-quality gates: Great Expectations suites run on the raw extract and the built marts.

The suites live as reviewable JSON in `expectations/gx/` (a GX file context). This module is
their single source: `python -m kequn.gates sync` rewrites those files from the specs below,
and `tests/python/test_gates.py` fails when the committed JSON and the specs disagree.

At build time the context is copied into the build folder (results, Data Docs and the GX
bookkeeping land there, never in the repository) and run against:

* raw   — an in-memory DuckDB database (`:memory:kequn_raw_<id>`) holding only *views* over
  the landed Parquet files, so PII never enters the warehouse file;
* marts — an in-memory DuckDB database that ATTACHes the freshly built warehouse READ_ONLY as
  `wh` and exposes each public mart as a view.

Thresholds are data, not SQL: each run loads `expectations/thresholds.yml` (plus CLI
overrides) into a `gate_params` table the queries read, and the code variants come from the
staging seed `seeds/mappings/code_mappings.csv` (view `code_variants`), so codes live once.

GX 1.24 on DuckDB needs one kept connection (see ../shared/notes/toolchain.md): GX keeps one
for SQLite/MSSQL; `_patch_gx_for_duckdb` makes it do the same for DuckDB.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kequn import DEFAULT_MEMORY_LIMIT, PROJECT_DIR
from kequn.contract import LINEAGE_COLUMNS, raw_tables

EXPECTATIONS_DIR = PROJECT_DIR / "expectations"
GX_DIR = EXPECTATIONS_DIR / "gx"
THRESHOLDS_FILE = EXPECTATIONS_DIR / "thresholds.yml"
CODE_MAPPINGS = PROJECT_DIR / "seeds" / "mappings" / "code_mappings.csv"

RAW_URL_VAR = "KEQUN_GX_RAW_URL"
MARTS_URL_VAR = "KEQUN_GX_MARTS_URL"
PII_COLUMN_NAMES = ("name", "phone", "id_number")
# 18-char PRC resident ID (area, YYYYMMDD birth date, sequence, check char) and CN mobile.
ID_PATTERN = (r"^[1-9][0-9]{5}(18|19|20)[0-9]{2}(0[1-9]|1[0-2])(0[1-9]|[12][0-9]|3[01])"
              r"[0-9]{3}[0-9Xx]$")
MOBILE_PATTERN = r"^(\+?86)?1[3-9][0-9]{9}$"

# ---------------------------------------------------------------------------------------
# The raw contract, typed: which columns are keys, dates, timestamps, numbers and codes
# (code column -> domain of seeds/mappings/code_mappings.csv). Column names come from
# the contract (models/staging/brokerage/_brokerage__sources.yml via kequn.contract).
# ---------------------------------------------------------------------------------------
RAW_SPEC: dict[str, dict[str, Any]] = {
    "clients": {
        "keys": ["client_id", "updated_at"],
        "dates": ["birth_date", "risk_assessed_date", "open_date", "close_date"],
        "timestamps": ["updated_at"],
        "numbers": ["children_count", "youngest_child_birth_year"],
        "codes": {
            "client_type": "client_type", "gender": "gender", "occupation": "occupation",
            "employer_industry": "industry", "employer_listed_board": "listed_board",
            "education": "education", "marital_status": "marital_status",
            "risk_level": "risk_level", "open_channel": "open_channel", "status": "client_status",
        },
    },
    "accounts": {
        "keys": ["account_id"],
        "dates": ["open_date", "close_date"],
        "timestamps": ["updated_at"],
        "numbers": [],
        "codes": {"account_type": "account_type", "status": "account_status"},
    },
    "products": {
        "keys": ["product_code"],
        "dates": [], "timestamps": [], "numbers": [],
        "codes": {
            "product_type": "product_type", "board": "listed_board",
            "risk_rating": "risk_rating", "issuer_industry": "industry", "currency": "currency",
        },
    },
    "fx_rates": {
        "keys": ["rate_date", "currency"],
        "dates": ["rate_date"], "timestamps": [], "numbers": ["cny_per_unit"],
        "codes": {"currency": "currency"},
    },
    "holdings": {
        "keys": ["snapshot_date", "account_id", "product_code"],
        "dates": ["snapshot_date"], "timestamps": [],
        "numbers": ["quantity", "market_value", "cost_value"],
        "codes": {"is_restricted": "yes_no"},
    },
    "balances": {
        "keys": ["snapshot_date", "account_id"],
        "dates": ["snapshot_date"], "timestamps": [],
        "numbers": ["cash_balance", "margin_debt"],
        "codes": {},
    },
    "trades": {
        "keys": ["trade_id"],
        "dates": [], "timestamps": ["trade_time", "updated_at"],
        "numbers": ["quantity", "price", "amount", "fee"],
        "codes": {"side": "trade_side", "channel": "trade_channel", "status": "trade_status"},
    },
    "cash_transfers": {
        "keys": ["transfer_id"],
        "dates": [], "timestamps": ["transfer_time"], "numbers": ["amount"],
        "codes": {"direction": "transfer_direction"},
    },
    "app_events": {
        "keys": ["event_date", "client_id", "event_type"],
        "dates": ["event_date"], "timestamps": [], "numbers": ["event_count"],
        "codes": {"event_type": "event_type", "device": "device"},
    },
}

DATE_FORMATS = "['%Y-%m-%d', '%Y%m%d', '%Y/%m/%d']"
TIMESTAMP_FORMATS = "['%Y-%m-%d %H:%M:%S', '%Y-%m-%dT%H:%M:%S%z', '%Y%m%d %H%M%S']"

PUBLIC_MARTS = (
    "client_segments", "client_group_memberships", "client_product_recommendations",
    "client_features_monthly", "group_monthly_summary", "acquisition_channel_summary",
    "dq_reconciliation", "group_catalogue",
)
GROUP_CODES = ("tech_executive", "sme_owner", "silver_active", "full_time_mom",
               "college_student", "independent_woman", "gen_z", "mass")
CATALOGUE = {
    "asset_tier": ["lt_10k", "10k_100k", "100k_500k", "500k_1m", "1m_6m", "ge_6m"],
    "age_band": ["18_24", "25_34", "35_44", "45_59", "60_69", "70_plus", "unknown"],
    "trading_frequency": ["none", "low", "medium", "high", "very_high"],
    "lifecycle_stage": ["closed", "churned", "zombie", "new", "dormant", "active"],
    "churn_risk_level": ["high", "medium", "low"],
}


def _param(name: str) -> str:
    return f"(select value from gate_params where name = '{name}')"


def _key(column: str) -> str:
    """The lookup key of a raw code, as staging's macro code_lookup_key computes it."""
    return f"lower(replace(replace(trim({column}), ' ', ''), '　', ''))"


def _bad_condition(column: str, kind: str) -> str:
    v = f"nullif(trim({column}), '')"
    if kind == "date":
        return f"{v} is not null and try_strptime({v}, {DATE_FORMATS}) is null"
    if kind == "timestamp":
        return f"{v} is not null and try_strptime({v}, {TIMESTAMP_FORMATS}) is null"
    if kind == "number":
        return f"{v} is not null and try_cast(replace({v}, ',', '') as double) is null"
    # code: kind is "code:<domain>"; an unknown domain (no seed rows) checks nothing
    domain = kind.split(":", 1)[1]
    return f"{v} is not null and not list_contains(known_{domain}, {_key(column)})"


def _columns_query(checks: list[tuple[str, str]], limit_of) -> str:
    """One pass over the table: per column, filled rows, bad rows and up to three distinct
    offending values; returns a row for each column whose bad share is over its limit."""
    flags, aggs, selects = [], [], []
    for i, (col, kind) in enumerate(checks):
        flags.append(f"    nullif(trim({col}), '') as v{i}, {_bad_condition(col, kind)} as b{i}")
        aggs.append(f"    count(v{i}) as filled_{i}, count(*) filter (where b{i}) as bad_{i}, "
                    f"list_distinct([min(v{i}) filter (where b{i}), max(v{i}) filter (where b{i}),"
                    f" first(v{i}) filter (where b{i})]) as values_{i}")
        selects.append(
            f"select '{col}' as column_name, '{kind}' as check_kind, filled_{i} as filled_rows, "
            f"bad_{i} as bad_rows, values_{i} as offending_values from counts "
            f"where bad_{i} > filled_{i} * {limit_of(kind)} "
            f"and (filled_{i} >= {_param('min_rows_for_rates')} or bad_{i} = filled_{i})")
    domains = sorted({k.split(":", 1)[1] for _, k in checks if k.startswith("code:")})
    known = ""
    source = "{batch}"
    if domains:
        lists = ", ".join(f"(select list(raw_value) from code_variants where domain = '{d}') "
                          f"as known_{d}" for d in domains)
        known = f"known as materialized (select {lists}),\n"
        source = "{batch}, known"
    return (f"with {known}flags as (\nselect\n" + ",\n".join(flags) + f"\nfrom {source}\n),\n"
            "counts as materialized (\nselect\n" + ",\n".join(aggs) + "\nfrom flags\n)\n"
            + "\nunion all\n".join(selects))


def _typed_query(spec: dict[str, Any]) -> str:
    checks = ([(c, "date") for c in spec["dates"]]
              + [(c, "timestamp") for c in spec["timestamps"]]
              + [(c, "number") for c in spec["numbers"]])
    return _columns_query(checks, lambda kind: _param(f"max_unparseable_share_{kind}"))


def _codes_query(spec: dict[str, Any]) -> str:
    checks = [(c, f"code:{d}") for c, d in spec["codes"].items()]
    return _columns_query(checks, lambda kind: _param("max_unknown_code_share"))


def _key_query(keys: list[str]) -> str:
    cond = " or ".join(f"nullif(trim({k}), '') is null" for k in keys)
    cols = ", ".join(f"count(*) filter (where nullif(trim({k}), '') is null) as null_{k}"
                     for k in keys)
    limit = _param("max_null_key_share")
    small = _param("min_rows_for_rates")
    return f"""with counts as (
    select count(*) as total_rows, count(*) filter (where {cond}) as rows_missing_a_key, {cols}
    from {{batch}}
)
select * from counts where rows_missing_a_key > total_rows * {limit}
    and (total_rows >= {small} or rows_missing_a_key = total_rows)"""


def raw_expectations(table: str) -> list:
    import great_expectations as gx

    spec = RAW_SPEC[table]
    columns = list(raw_tables()[table])
    exps: list = [
        gx.expectations.ExpectTableColumnsToMatchSet(
            column_set=columns + list(LINEAGE_COLUMNS), exact_match=False,
            description=f"raw {table}: every contract column is present (extra columns are fine)",
        ),
        gx.expectations.ExpectTableRowCountToBeBetween(
            min_value={"$PARAMETER": f"min_rows_{table}"},
            max_value={"$PARAMETER": f"max_rows_{table}"},
            description=f"raw {table}: row count within bounds (thresholds.yml row_bounds)",
        ),
        gx.expectations.UnexpectedRowsExpectation(
            unexpected_rows_query=_key_query(spec["keys"]),
            description=f"raw {table}: key columns {', '.join(spec['keys'])} are filled "
                        "(share of rows missing a key <= max_null_key_share)",
        ),
    ]
    typed = [*spec["dates"], *spec["timestamps"], *spec["numbers"]]
    if typed:
        exps.append(gx.expectations.UnexpectedRowsExpectation(
            unexpected_rows_query=_typed_query(spec),
            description=f"raw {table}: filled values of {', '.join(typed)} parse as contract "
                        "dates / timestamps / numbers (share unparseable per column <= "
                        "max_unparseable_share_<kind>)",
        ))
    if spec["codes"]:
        exps.append(gx.expectations.UnexpectedRowsExpectation(
            unexpected_rows_query=_codes_query(spec),
            description=f"raw {table}: filled values of {', '.join(spec['codes'])} are known "
                        "variants of their code lists (seeds/mappings/code_mappings.csv; "
                        "share unknown per column <= max_unknown_code_share)",
        ))
    return exps


def _in_catalogue(column: str, catalogue_table: str = "known_group_codes") -> str:
    return (f"select {column}, count(*) as rows from {{batch}} where {column} is not null and "
            f"{column} not in (select code from {catalogue_table}) group by 1 limit 20")


def marts_expectations() -> dict[str, list]:
    """{asset: [expectation, ...]} for the published marts and the warehouse as a whole."""
    import great_expectations as gx

    E = gx.expectations
    U = E.UnexpectedRowsExpectation
    seg = [
        E.ExpectColumnValuesToNotBeNull(column="client_id"),
        E.ExpectColumnValuesToBeUnique(column="client_id",
                                       description="grain: one row per client"),
        E.ExpectColumnValuesToNotBeNull(column="as_of_date"),
        E.ExpectColumnValuesToNotBeNull(column="primary_group"),
        E.ExpectColumnValuesToNotBeNull(column="rule_version"),
        E.ExpectColumnValuesToBeBetween(column="age", min_value=0, max_value=120),
        E.ExpectColumnValuesToBeBetween(column="churn_risk_score", min_value=0, max_value=100),
        E.ExpectColumnValuesToBeBetween(column="total_assets", min_value=0),
        E.ExpectColumnValuesToBeInSet(column="gender", value_set=["M", "F"]),
        U(unexpected_rows_query=_in_catalogue("primary_group"),
          description="primary_group is a group code of the catalogue (rules seed) or mass"),
        U(unexpected_rows_query=(
            "select client_id, group_codes, code from {batch}, "
            "unnest(string_split(coalesce(group_codes, ''), ',')) as t(code) "
            "where code <> '' and code not in (select code from known_group_codes) limit 20"),
          description="every code in group_codes is in the group catalogue"),
    ]
    for col, values in CATALOGUE.items():
        seg.append(E.ExpectColumnValuesToBeInSet(column=col, value_set=values))
    for col in ("asset_tier", "age_band", "trading_frequency", "lifecycle_stage"):
        seg.append(E.ExpectColumnValuesToNotBeNull(column=col))

    memberships = [
        E.ExpectCompoundColumnsToBeUnique(column_list=["client_id", "group_code"],
                                          description="grain: client x group"),
        E.ExpectColumnValuesToNotBeNull(column="evidence"),
        U(unexpected_rows_query=_in_catalogue("group_code"),
          description="group_code is in the group catalogue"),
        U(unexpected_rows_query=(
            "select client_id, count(*) as primary_rows from {batch} where is_primary "
            "group by client_id having count(*) > 1 limit 20"),
          description="at most one primary group per client"),
        U(unexpected_rows_query=(
            "select m.client_id, m.group_code, s.primary_group from {batch} as m "
            "left join client_segments as s using (client_id) "
            "where m.is_primary and m.group_code is distinct from s.primary_group limit 20"),
          description="the primary membership agrees with client_segments.primary_group"),
    ]
    recs = [
        E.ExpectCompoundColumnsToBeUnique(column_list=["client_id", "product_code"],
                                          description="grain: client x product"),
        E.ExpectColumnValuesToBeInSet(column="risk_rating",
                                      value_set=["R1", "R2", "R3", "R4", "R5"]),
        E.ExpectColumnValuesToBeBetween(column="rank", min_value=1),
        U(unexpected_rows_query=(
            "select r.client_id, r.product_code, r.risk_rating, c.risk_level, "
            "s.needs_risk_assessment from {batch} as r "
            "join client_segments as s using (client_id) "
            "left join client_risk_levels as c using (client_id) "
            "where r.risk_rating is null "
            "or (coalesce(s.needs_risk_assessment, true) and r.risk_rating <> 'R1') "
            "or (not coalesce(s.needs_risk_assessment, true) and (c.risk_level is null or "
            "try_cast(substr(r.risk_rating, 2) as int) > "
            "try_cast(substr(c.risk_level, 2) as int))) "
            "limit 20"),
          description="suitability (投资者适当性): a product's risk rating never exceeds the "
                      "client's level (C1->R1 .. C5->R5); clients needing an assessment get "
                      "R1 only"),
        U(unexpected_rows_query=(
            "select r.client_id from {batch} as r left join client_segments as s "
            "using (client_id) where s.client_id is null limit 20"),
          description="every recommended client is in client_segments"),
    ]
    features = [
        E.ExpectCompoundColumnsToBeUnique(column_list=["client_id", "month_end"],
                                          description="grain: client x month end"),
        E.ExpectColumnValuesToNotBeNull(column="month_end"),
    ]
    for col in ("high_risk_share", "fixed_income_share", "tech_share", "online_trade_share"):
        features.append(E.ExpectColumnValuesToBeBetween(column=col, min_value=0, max_value=1))
    for col in ("total_assets", "trades_30d", "trades_90d", "trades_365d", "logins_30d",
                "logins_90d"):
        features.append(E.ExpectColumnValuesToBeBetween(column=col, min_value=0))
    count_cols = ("clients", "total_assets", "active_clients", "zombie_clients")
    gms = [
        E.ExpectCompoundColumnsToBeUnique(column_list=["month_end", "group_code"],
                                          description="grain: month end x group"),
        U(unexpected_rows_query=_in_catalogue("group_code"),
          description="group_code is in the group catalogue"),
        U(unexpected_rows_query=(
            "select * from {batch} where active_clients > clients or zombie_clients > clients "
            "or churn_risk_clients > clients limit 20"),
          description="active, zombie and churn-risk clients are subsets of clients"),
    ]
    gms += [E.ExpectColumnValuesToBeBetween(column=c, min_value=0) for c in count_cols]
    acq = [
        E.ExpectCompoundColumnsToBeUnique(column_list=["open_channel", "primary_group"],
                                          description="grain: acquisition channel x primary group"),
        U(unexpected_rows_query=_in_catalogue("primary_group"),
          description="primary_group is in the group catalogue"),
        U(unexpected_rows_query=(
            "select * from {batch} where active_clients > clients or zombie_clients > clients "
            "limit 20"),
          description="active and zombie clients are subsets of clients"),
        U(unexpected_rows_query=(
            "select (select sum(clients) from {batch}) as channel_clients, "
            "(select count(*) from client_segments) as segment_clients "
            "where channel_clients is distinct from segment_clients"),
          description="channel summary covers every segmented client exactly once"),
    ]
    acq += [E.ExpectColumnValuesToBeBetween(column=c, min_value=0) for c in count_cols]
    recon = [
        E.ExpectColumnValuesToBeUnique(column="table_name",
                                       description="grain: one row per raw table"),
        E.ExpectColumnDistinctValuesToContainSet(column="table_name",
                                                 value_set=sorted(RAW_SPEC)),
        U(unexpected_rows_query=(
            "select table_name, raw_rows, loaded_rows, duplicate_rows, rejected_rows from {batch} "
            "where raw_rows is distinct from loaded_rows + duplicate_rows + rejected_rows"),
          description="reconciliation identity: raw_rows = loaded_rows + duplicate_rows + "
                      "rejected_rows"),
        U(unexpected_rows_query=(
            "select r.table_name, r.raw_rows as reconciled_raw_rows, l.landed_rows "
            "from {batch} as r join landed_counts as l using (table_name) "
            "where r.raw_rows is distinct from l.landed_rows"),
          description="raw_rows equals the rows landed for the table (landing manifest)"),
        U(unexpected_rows_query=(
            "select table_name, raw_rows, rejected_rows, "
            "round(rejected_rows / nullif(raw_rows, 0), 4) as reject_rate, "
            f"{_param('max_reject_rate')} as limit_rate from {{batch}} "
            f"where rejected_rows > raw_rows * {_param('max_reject_rate')} "
            f"and (raw_rows >= {_param('min_rows_for_rates')} or rejected_rows = raw_rows)"),
          description="reject rate per table <= max_reject_rate "
                      "(thresholds.yml, --max-reject-rate)"),
        U(unexpected_rows_query=(
            "select table_name, loaded_rows, orphan_rows, "
            "round(orphan_rows / nullif(loaded_rows, 0), 4) as orphan_rate, "
            f"{_param('max_orphan_rate')} as limit_rate from {{batch}} "
            f"where orphan_rows > loaded_rows * {_param('max_orphan_rate')} "
            f"and (loaded_rows >= {_param('min_rows_for_rates')} or orphan_rows = loaded_rows)"),
          description="orphan rate per table (unknown account/client/product) <= max_orphan_rate"),
        U(unexpected_rows_query=(
            "select table_name, loaded_rows from {batch} "
            "where loaded_rows = 0 and table_name in ('clients', 'accounts', 'products')"),
          description="master data loaded: clients, accounts and products are not empty"),
    ]
    catalogue = [
        E.ExpectColumnValuesToBeUnique(column="group_code", description="grain: one row per group"),
        E.ExpectColumnValuesToBeUnique(column="priority"),
        *(E.ExpectColumnValuesToNotBeNull(column=c) for c in (
            "group_code", "group_name_zh", "group_name_en", "priority", "service_channel",
            "rule_version")),
        U(unexpected_rows_query=(
            "select coalesce(c.group_code, k.code) as group_code, "
            "c.group_code is null as missing_from_mart from {batch} as c "
            "full join known_group_codes as k on c.group_code = k.code "
            "where c.group_code is null or k.code is null limit 20"),
          description="one row for every group of the rules seed (rule_groups) and mass, no other"),
        U(unexpected_rows_query=(
            "select count(*) filter (where is_fallback) as fallback_rows from {batch} "
            "having count(*) filter (where is_fallback) <> 1"),
          description="exactly one fallback group (mass)"),
        U(unexpected_rows_query=(
            "select s.primary_group, s.service_channel, c.service_channel as catalogue_channel, "
            "count(*) as clients from client_segments as s left join {batch} as c "
            "on s.primary_group = c.group_code "
            "where s.service_channel is distinct from c.service_channel group by all limit 20"),
          description="client_segments.service_channel is the catalogue's service channel of "
                      "the client's primary group"),
    ]
    pii_names = [
        U(unexpected_rows_query=(
            "select table_schema, table_name, column_name from {batch} "
            f"where lower(column_name) in {tuple(PII_COLUMN_NAMES)!r} limit 50"),
          description="no PII column (name, phone, id_number) in any table or view of any schema"),
    ]
    pii_values = [
        U(unexpected_rows_query=(
            "select table_schema, table_name, column_name, pattern, hits, sample_value "
            "from {batch} limit 50"),
          description="no value shaped like an 18-char resident ID or an 11-digit mobile number "
                      "in any varchar column of any schema (sample shown masked)"),
    ]
    return {
        "client_segments": seg, "client_group_memberships": memberships,
        "client_product_recommendations": recs, "client_features_monthly": features,
        "group_monthly_summary": gms, "acquisition_channel_summary": acq,
        "dq_reconciliation": recon, "group_catalogue": catalogue,
        "warehouse_columns": pii_names,
        "pii_value_hits": pii_values,
    }


# ---------------------------------------------------------------------------------------
# GX plumbing
# ---------------------------------------------------------------------------------------
_PATCHED = False


def _patch_gx_for_duckdb() -> None:
    """Give DuckDB the single kept connection GX gives SQLite (else metrics come back empty)."""
    global _PATCHED
    if _PATCHED:
        return
    from great_expectations.execution_engine import sqlalchemy_execution_engine as see

    original_requires = see._dialect_requires_persisted_connection

    def requires(connection_string=None, credentials=None, url=None) -> bool:
        text = str(connection_string or url or (credentials or {}).get("drivername", ""))
        return text.startswith("duckdb") or original_requires(connection_string, credentials, url)

    original_get = see.SqlAlchemyExecutionEngine.get_connection

    @contextmanager
    def get_connection(self):
        if self.engine.dialect.name == "duckdb":
            if not self._connection:
                self._connection = self.engine.connect()
            yield self._connection
        else:
            with original_get(self) as conn:
                yield conn

    see._dialect_requires_persisted_connection = requires
    see.SqlAlchemyExecutionEngine.get_connection = get_connection
    _PATCHED = True


def _quiet_gx_env() -> None:
    os.environ["GX_ANALYTICS_ENABLED"] = "false"
    os.environ.setdefault("GX_HOME", os.environ.get("TMPDIR", "/tmp"))


def _sql_str(value: str | Path) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def load_thresholds(overrides: dict[str, float] | None = None,
                    path: Path = THRESHOLDS_FILE) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    for k, v in (overrides or {}).items():
        if v is not None:
            doc["limits"][k] = v
    return doc


class MemoryDb:
    """A named in-memory DuckDB database shared by our keeper connection and GX's engine."""

    def __init__(self, label: str):
        import sqlalchemy as sa

        self.url = f"duckdb:///:memory:kequn_{label}_{uuid.uuid4().hex[:10]}"
        self.engine = sa.create_engine(self.url, poolclass=sa.pool.StaticPool)
        self.conn = self.engine.connect()
        # DuckDB's default is 80 % of RAM; the gates get the build's own budget (the PII
        # scan of a full build reads every varchar value of the warehouse)
        settings = {"memory_limit": os.environ.get("KEQUN_MEMORY_LIMIT", DEFAULT_MEMORY_LIMIT),
                    "threads": "2", "preserve_insertion_order": "false"}
        if os.environ.get("KEQUN_TEMP_DIR"):
            settings["temp_directory"] = os.environ["KEQUN_TEMP_DIR"]
        self.run(*(f"set {k} = {_sql_str(v)}" for k, v in settings.items()))

    def run(self, *statements: str) -> None:
        for stmt in statements:
            self.conn.exec_driver_sql(stmt)
        self.conn.commit()

    def rows(self, sql: str) -> list[tuple]:
        return [tuple(r) for r in self.conn.exec_driver_sql(sql).fetchall()]

    def close(self) -> None:
        with suppress(Exception):
            self.conn.close()
        self.engine.dispose()


def _load_params(mem: MemoryDb, thresholds: dict[str, Any]) -> None:
    limits = thresholds["limits"]
    values = [f"({_sql_str(k)}, {float(v)})" for k, v in limits.items()]
    mem.run("create or replace table gate_params (name varchar, value double)",
            f"insert into gate_params values {', '.join(values)}")


def _create_raw_views(mem: MemoryDb, landing_dir: Path | None,
                      only_batch: int | None = None) -> None:
    stmts = []
    scope = "" if only_batch is None else f" where _batch_id = {int(only_batch)}"
    for table, columns in raw_tables().items():
        if landing_dir is None:
            cols = ", ".join(f"cast(null as varchar) as {c}" for c in (*columns, *LINEAGE_COLUMNS))
            stmts.append(f"create or replace view {table} as select {cols} where false")
        else:
            glob = landing_dir / table / "*.parquet"
            stmts.append(f"create or replace view {table} as select * from "
                         f"read_parquet({_sql_str(glob)}, union_by_name = true){scope}")
    if CODE_MAPPINGS.exists():
        stmts.append("create or replace view code_variants as select domain, raw_value from "
                     f"read_csv({_sql_str(CODE_MAPPINGS)}, all_varchar = true, header = true)")
    else:
        stmts.append("create or replace view code_variants as "
                     "select cast(null as varchar) as domain, cast(null as varchar) as raw_value "
                     "where false")
    mem.run(*stmts)


def _mask(value: str) -> str:
    return value[:3] + "*" * max(len(value) - 5, 0) + value[-2:] if len(value) > 5 else "***"


def _pii_scan_sql(mem: MemoryDb, since_batch: int | None = None) -> str:
    """One scan per table: every varchar column of every base table of the attached warehouse,
    unpivoted, checked against both patterns. Views are not scanned (they only recompute
    what the tables hold; their column *names* are checked by the warehouse_columns suite).

    With `since_batch` (a nightly build), a table carrying `_batch_id` (landing lineage:
    every staging table, the history marts) is scanned only in the rows of that batch and
    later: its older rows were scanned when the build that wrote them was published, and
    are rewritten since only by the same code from the same landed rows (a code change is
    deployed with --full-refresh, which scans everything). Other tables are scanned whole."""
    lineage = {(r[0], r[1]) for r in mem.rows(
        "select table_schema, table_name from information_schema.columns "
        "where table_catalog = 'wh' and column_name = '_batch_id'")} if since_batch else set()
    cols = mem.rows(
        "select c.table_schema, c.table_name, c.column_name from information_schema.columns c "
        "join information_schema.tables t using (table_catalog, table_schema, table_name) "
        "where c.table_catalog = 'wh' and c.data_type = 'VARCHAR' "
        "and t.table_type = 'BASE TABLE' "
        "and c.table_schema not in ('information_schema', 'pg_catalog') "
        "order by 1, 2, c.ordinal_position")
    by_table: dict[tuple[str, str], list[str]] = {}
    for schema, table, column in cols:
        by_table.setdefault((schema, table), []).append(column)
    ident, mobile = _sql_str(ID_PATTERN), _sql_str(MOBILE_PATTERN)
    parts = []
    for (schema, table), columns in by_table.items():
        quoted = ", ".join(f'"{c}"' for c in columns)
        parts.append(
            f"select {_sql_str(schema)} as table_schema, {_sql_str(table)} as table_name, "
            "column_name, case when regexp_matches(v, " + ident + ") then 'resident_id_18' "
            "else 'mobile_11' end as pattern, count(*) as hits, "
            "any_value(substr(v, 1, 3) || repeat('*', length(v) - 5) || right(v, 2)) "
            "as sample_value "
            f'from (unpivot (select {quoted} from wh."{schema}"."{table}"'
            + (f" where _batch_id >= {int(since_batch)}" if (schema, table) in lineage else "")
            + f") on {quoted} "
            "into name column_name value raw_value), lateral (select trim(raw_value) as v) "
            "where length(v) between 11 and 18 "
            f"and (regexp_matches(v, {ident}) or regexp_matches(v, {mobile})) "
            "group by all")
    if not parts:
        return _pii_scan_sql_empty()
    return "\nunion all\n".join(parts)


def _create_marts_views(mem: MemoryDb, db: Path | None, landed: dict[str, int],
                        since_batch: int | None = None) -> list[str]:
    """Views over the attached warehouse; returns the public marts missing from it."""
    stmts: list[str] = []
    missing: list[str] = []
    if db is not None:
        mem.run(f"attach {_sql_str(db)} as wh (read_only)")
        present = {r[0] for r in mem.rows(
            "select table_name from information_schema.tables "
            "where table_catalog = 'wh' and table_schema = 'marts'")}
    else:
        present = set()
    for mart in PUBLIC_MARTS:
        if mart in present:
            stmts.append(f"create or replace view {mart} as select * from wh.marts.{mart}")
        else:
            if db is not None:
                missing.append(mart)
            stmts.append(f"create or replace view {mart} as "
                         "select null as missing_mart where false")
    stmts.append(
        "create or replace view warehouse_columns as select table_catalog, table_schema, "
        "table_name, column_name, data_type from information_schema.columns "
        + ("where table_catalog = 'wh'" if db is not None else "where false"))
    # Risk level of each client at the as-of date (suitability check): from staging's
    # current client version, the one home of that value.
    has_stg = db is not None and bool(mem.rows(
        "select 1 from information_schema.tables where table_catalog = 'wh' "
        "and table_schema = 'staging' and table_name = 'stg_brokerage__clients'"))
    if has_stg:
        stmts.append("create or replace view client_risk_levels as select client_id, risk_level "
                     "from wh.staging.stg_brokerage__clients where is_current_version")
    else:
        stmts.append("create or replace view client_risk_levels as select "
                     "cast(null as varchar) as client_id, cast(null as varchar) as risk_level "
                     "where false")
    groups = _group_catalogue(mem, db)
    stmts.append("create or replace table known_group_codes (code varchar)")
    stmts.append("insert into known_group_codes values " + ", ".join(f"('{g}')" for g in groups))
    rows = [f"({_sql_str(t)}, {n})" for t, n in landed.items()] or ["('none', 0)"]
    stmts.append("create or replace table landed_counts (table_name varchar, landed_rows bigint)")
    stmts.append("insert into landed_counts values " + ", ".join(rows))
    mem.run(*stmts)
    scan = _pii_scan_sql(mem, since_batch) if db is not None else _pii_scan_sql_empty()
    # a table, not a view: the scan reads every varchar value of the warehouse, so it runs
    # once, however GX queries the asset
    mem.run(f"create or replace table pii_value_hits as {scan}")
    return missing


def _pii_scan_sql_empty() -> str:
    return ("select cast(null as varchar) as table_schema, cast(null as varchar) as table_name, "
            "cast(null as varchar) as column_name, cast(null as varchar) as pattern, 0 as hits, "
            "cast(null as varchar) as sample_value where false")


def _group_catalogue(mem: MemoryDb, db: Path | None) -> list[str]:
    """Group codes from the rules seed in the warehouse when there is one, else the spec's."""
    if db is not None:
        for (table,) in mem.rows(
                "select table_name from information_schema.columns where table_catalog = 'wh' "
                "and table_schema = 'rules' and column_name = 'group_code' "
                "and table_name like '%group%' order by table_name <> 'rule_groups', 1"):
            codes = [r[0] for r in mem.rows(f'select distinct group_code from wh.rules."{table}" '
                                            "where group_code is not null")]
            if codes:
                return sorted({*codes, "mass"})
    return list(GROUP_CODES)


# ---------------------------------------------------------------------------------------
# Writing the file context (review artefacts) — `python -m kequn.gates sync`
# ---------------------------------------------------------------------------------------
def _context(root: Path):
    _quiet_gx_env()
    _patch_gx_for_duckdb()
    import great_expectations as gx

    return gx.get_context(mode="file", project_root_dir=str(root))


def _signature(exps: list) -> list[tuple]:
    out = []
    for e in exps:
        cfg = e.configuration.to_json_dict()
        out.append((cfg["type"], json.dumps(cfg["kwargs"], sort_keys=True, default=str),
                    getattr(e, "description", None) or ""))
    return out


def sync(root: Path = EXPECTATIONS_DIR) -> Path:
    """(Re)write suites, validation definitions and checkpoints as JSON under <root>/gx/."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    raw_mem, marts_mem = MemoryDb("raw_sync"), MemoryDb("marts_sync")
    os.environ[RAW_URL_VAR], os.environ[MARTS_URL_VAR] = raw_mem.url, marts_mem.url
    try:
        _create_raw_views(raw_mem, None)
        _load_params(raw_mem, load_thresholds())
        _create_marts_views(marts_mem, None, {})
        _load_params(marts_mem, load_thresholds())
        ctx = _context(root)
        ctx.variables.progress_bars = ProgressBarsConfig(globally=False)
        ctx.variables.save()
        layers = {
            "raw": ("${" + RAW_URL_VAR + "}", {t: raw_expectations(t) for t in RAW_SPEC}),
            "marts": ("${" + MARTS_URL_VAR + "}", marts_expectations()),
        }
        for layer, (url, suites) in layers.items():
            try:
                ds = ctx.data_sources.get(layer)
            except (KeyError, LookupError, ValueError):
                ds = ctx.data_sources.add_sql(layer, connection_string=url)
            vds = []
            for asset_name, exps in suites.items():
                try:
                    asset = ds.get_asset(asset_name)
                except LookupError:
                    asset = ds.add_table_asset(asset_name, table_name=asset_name)
                try:
                    bd = asset.get_batch_definition("whole_table")
                except (KeyError, LookupError):
                    bd = asset.add_batch_definition_whole_table("whole_table")
                name = f"{layer}.{asset_name}"
                try:
                    suite = ctx.suites.get(name)
                except Exception:
                    suite = ctx.suites.add(gx.ExpectationSuite(name=name))
                if _signature(suite.expectations) != _signature(exps):
                    # Changed suites only, so unchanged files (and their ids) stay put.
                    for old in list(suite.expectations):
                        suite.delete_expectation(old)
                    suite.meta["layer"] = layer
                    suite.meta["asset"] = asset_name
                    for e in exps:
                        suite.add_expectation(e)
                    suite.save()
                vds.append(ctx.validation_definitions.add_or_update(
                    gx.ValidationDefinition(name=name, data=bd, suite=suite)))
            ctx.checkpoints.add_or_update(gx.Checkpoint(
                name=layer, validation_definitions=vds,
                actions=[],   # Data Docs are built once per build (build_data_docs)
                result_format={"result_format": "COMPLETE", "partial_unexpected_count": 20},
            ))
    finally:
        raw_mem.close()
        marts_mem.close()
    return root / "gx"


# ---------------------------------------------------------------------------------------
# Running a gate
# ---------------------------------------------------------------------------------------
@dataclass
class Finding:
    suite: str
    asset: str
    column: str | None
    expectation: str
    description: str
    observed: Any
    sample: list[Any] = field(default_factory=list)

    def line(self) -> str:
        where = f"{self.asset}.{self.column}" if self.column else self.asset
        if len(self.sample) == 1 and isinstance(self.sample[0], dict) \
                and "offending_values" in self.sample[0]:
            first = self.sample[0]
            values = [v for v in first["offending_values"] or [] if v is not None]
            return (f"{where}: {self.expectation} failed — {first.get('bad_rows')} of "
                    f"{first.get('filled_rows')} filled values fail ({first.get('check_kind')}"
                    f"); offending values: {json.dumps(values, ensure_ascii=False)}")
        sample = json.dumps(self.sample[:3], ensure_ascii=False, default=str)
        return (f"{where}: {self.expectation} failed — {self.description} "
                f"(observed {self.observed}; sample {sample})")


@dataclass
class GateResult:
    layer: str
    success: bool
    seconds: float
    evaluated: int = 0
    findings: list[Finding] = field(default_factory=list)
    results: list[dict] = field(default_factory=list)
    data_docs: Path | None = None
    error: str | None = None

    def lines(self) -> list[str]:
        state = "passed" if self.success else "FAILED"
        out = [f"{self.layer} gate {state}: {self.evaluated - len(self.findings)}/"
               f"{self.evaluated} expectations met in {self.seconds:.1f}s"]
        if self.error:
            out.append(f"  {self.error}")
        out += [f"  - {f.line()}" for f in self.findings[:30]]
        if len(self.findings) > 30:
            out.append(f"  ... and {len(self.findings) - 30} more (see the build report)")
        return out


def _column_of(exp: dict, rows: list) -> str | None:
    kw = exp.get("kwargs", {})
    if kw.get("column"):
        return kw["column"]
    if kw.get("column_list"):
        return ",".join(kw["column_list"])
    if rows and isinstance(rows[0], dict) and rows[0].get("column_name"):
        return str(rows[0]["column_name"])
    m = re.search(r"raw \w+\.(\w+):", exp.get("description") or "")
    return m.group(1) if m else None


def _sample(result: dict) -> list[Any]:
    details = result.get("details") or {}
    if "unexpected_rows" in details:
        rows = details["unexpected_rows"]
        return [dict(r) if not isinstance(r, dict) else r for r in rows][:20]
    if result.get("partial_unexpected_counts"):
        return result["partial_unexpected_counts"][:20]
    if result.get("partial_unexpected_list"):
        return result["partial_unexpected_list"][:20]
    if "details" in result and isinstance(details, dict) and details.get("mismatched"):
        return [details["mismatched"]]
    return []


def _collect(layer: str, cp_result, seconds: float) -> GateResult:
    gate = GateResult(layer=layer, success=bool(cp_result.success), seconds=seconds)
    for vr in cp_result.run_results.values():
        d = vr.to_json_dict()
        suite = d["suite_name"]
        asset = suite.split(".", 1)[1]
        for r in d["results"]:
            exp = r["expectation_config"]
            res = r.get("result") or {}
            sample = _sample(res)
            observed = res.get("observed_value")
            if observed is None and "unexpected_count" in res:
                pct = res.get("unexpected_percent") or 0
                observed = (f"{res.get('unexpected_count')} unexpected of "
                            f"{res.get('element_count')} ({pct:.2f}%)")
            if r.get("exception_info", {}).get("raised_exception"):
                observed = "error: " + str(r["exception_info"].get("exception_message"))[:300]
            row = {
                "suite": suite, "asset": asset, "column": _column_of(exp, sample),
                "expectation": exp["type"], "description": exp.get("description") or "",
                "success": bool(r["success"]), "observed": observed,
            }
            gate.results.append(row)
            gate.evaluated += 1
            if r["success"]:
                continue
            per_column = [x for x in sample if isinstance(x, dict) and "column_name" in x]
            if per_column and len({x["column_name"] for x in per_column}) == len(per_column):
                for x in per_column:
                    gate.findings.append(Finding(
                        suite=suite, asset=asset, column=str(x["column_name"]),
                        expectation=exp["type"], description=row["description"],
                        observed=f"{x.get('bad_rows')} of {x.get('filled_rows')} filled "
                                 "values fail", sample=[x]))
            else:
                gate.findings.append(Finding(
                    suite=suite, asset=asset, column=row["column"], expectation=exp["type"],
                    description=row["description"], observed=observed, sample=sample))
    return gate


@contextmanager
def _build_context(work_dir: Path) -> Iterator[Any]:
    """A private copy of the committed context for one build (results and docs go there)."""
    root = work_dir / "gx_context"
    if not (root / "gx").exists():
        shutil.copytree(GX_DIR, root / "gx",
                        ignore=shutil.ignore_patterns("uncommitted", "__pycache__"))
    ctx = _context(root)
    yield ctx


def _run_checkpoint(layer: str, mem: MemoryDb, work_dir: Path,
                    params: dict[str, Any]) -> GateResult:
    os.environ[RAW_URL_VAR if layer == "raw" else MARTS_URL_VAR] = mem.url
    start = time.perf_counter()
    with _build_context(work_dir) as ctx:
        cp = ctx.checkpoints.get(layer)
        result = cp.run(expectation_parameters=params)
        gate = _collect(layer, result, time.perf_counter() - start)
        # Close GX's engines so the attached warehouse is released before publishing.
        for ds in ctx.data_sources.all().values():
            with suppress(Exception):
                eng = ds.get_execution_engine()
                if eng._connection is not None:
                    eng._connection.close()
                eng.engine.dispose()
            with suppress(Exception):
                ds.get_engine().dispose()
    return gate


def build_data_docs(work_dir: Path) -> Path | None:
    """Render GX Data Docs for this build's validation results, made readable offline."""
    from kequn.report import offline_data_docs

    root = work_dir / "gx_context"
    if not (root / "gx").exists():
        return None
    ctx = _context(root)
    ctx.build_data_docs()
    docs = root / "gx" / "uncommitted" / "data_docs" / "local_site"
    if not (docs / "index.html").exists():
        return None
    offline_data_docs(docs)
    return docs / "index.html"


def run_raw_gate(landing_dir: Path, work_dir: Path, thresholds: dict[str, Any],
                 new_batch: int | None = None,
                 rows_before: dict[str, int] | None = None) -> GateResult:
    """Run the raw checkpoint over the landed Parquet (in-memory views, nothing persisted).

    With `new_batch`, only that landing batch is checked (a nightly build: every earlier
    batch passed this gate when it was published, and landed files never change); the
    row bounds, which are on all landed rows of a table, are then shifted by
    `rows_before` (the rows each table held before the batch) onto the batch's rows."""
    mem = MemoryDb("raw")
    try:
        _create_raw_views(mem, landing_dir, new_batch)
        _load_params(mem, thresholds)
        params = {}
        bounds = thresholds.get("row_bounds", {})
        default = bounds.get("default", {})
        before = (rows_before or {}) if new_batch is not None else {}
        for table in RAW_SPEC:
            b = {**default, **bounds.get(table, {})}
            had = before.get(table, 0)
            params[f"min_rows_{table}"] = max(b.get("min", 1) - had, 0)
            params[f"max_rows_{table}"] = None if b.get("max") is None else b["max"] - had
        gate = _run_checkpoint("raw", mem, work_dir, params)
        if not CODE_MAPPINGS.exists():
            gate.error = "code variant checks skipped: seeds/mappings/code_mappings.csv is missing"
        return gate
    finally:
        mem.close()


def run_marts_gate(db: Path, work_dir: Path, thresholds: dict[str, Any],
                   landed: dict[str, int], since_batch: int | None = None) -> GateResult:
    """Run the marts checkpoint over the built warehouse, attached read-only (the PII scan
    of a nightly build scoped by `since_batch`, see _pii_scan_sql)."""
    mem = MemoryDb("marts")
    try:
        missing = _create_marts_views(mem, db, landed, since_batch)
        _load_params(mem, thresholds)
        gate = _run_checkpoint("marts", mem, work_dir, {})
        if missing:
            gate.success = False
            gate.error = f"public marts missing from the warehouse: {', '.join(missing)}"
            for m in missing:
                gate.findings.insert(0, Finding("marts." + m, m, None, "mart_exists",
                                                "public mart must exist", "missing"))
        with suppress(Exception):
            mem.run("detach wh")
        return gate
    finally:
        mem.close()


def read_reconciliation(db: Path) -> list[dict]:
    import duckdb

    with suppress(duckdb.Error), duckdb.connect(str(db), read_only=True) as con:
        cur = con.execute("select * from marts.dq_reconciliation order by table_name")
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    return []


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["sync"]:
        root = Path(argv[1]) if len(argv) > 1 else EXPECTATIONS_DIR
        print(f"wrote {sync(root)}")
        return 0
    print("usage: python -m kequn.gates sync [ROOT]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
