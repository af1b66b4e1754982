"""What the gates expect: the Great Expectations suite specs, as code.

The raw contract typed (which columns are keys, dates, timestamps, numbers and codes), the
SQL each raw expectation runs (one pass per table), and the marts expectations (grain,
catalogue codes, ranges, suitability, reconciliation, no PII). `python -m kequn.gates sync`
writes them as reviewable JSON under `expectations/gx/`; kequn/gates.py runs them. Column
names come from the contract (kequn.contract), thresholds from `gate_params` at run time.
"""

from __future__ import annotations

from typing import Any

from kequn.contract import LINEAGE_COLUMNS, raw_tables
from kequn.pii_proof import PII_COLUMN_NAMES

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
# staging's grouped_number_pattern (macros/parsing/safe_decimal.sql): 1,234,567.89; no
# braces, since GX formats the query ({batch})
GROUPED_NUMBER = "[+-]?[0-9][0-9]?[0-9]?(,[0-9][0-9][0-9])+([.][0-9]*)?"
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
        # as staging's safe_decimal: a comma only as a well-formed thousands separator
        grouped = f"regexp_full_match(replace({v}, ' ', ''), '{GROUPED_NUMBER}')"
        return (f"{v} is not null and try_cast(case when {grouped} then replace({v}, ',', '') "
                f"else replace({v}, ' ', '') end as double) is null")
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
            "select table_name, raw_rows, conflicting_rows, "
            "round(conflicting_rows / nullif(raw_rows, 0), 6) as conflicting_share, "
            f"{_param('max_conflicting_share')} as limit_share from {{batch}} "
            f"where conflicting_rows > raw_rows * {_param('max_conflicting_share')} "
            f"and (raw_rows >= {_param('min_rows_for_rates')} or conflicting_rows = raw_rows)"),
          description="rows contradicting another row of their own file (conflicting_rows) "
                      "per table <= max_conflicting_share (thresholds.yml)"),
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
