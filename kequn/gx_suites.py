"""What the gates expect: the Great Expectations suite specs, as code.

The raw contract typed (which columns are keys, dates, timestamps, numbers and codes, and
which output column of its base model types each), the profile each raw suite judges (one
grouped pass over a base model's new batch: the typing pass already decided what parses),
and the marts expectations (grain, catalogue codes, ranges, suitability, reconciliation, no
PII). `python -m kequn.gates sync` writes them as reviewable JSON under `expectations/gx/`;
kequn/gates.py runs them. Column names come from the contract (kequn.contract), thresholds
from `gate_params` at run time.
"""

from __future__ import annotations

from typing import Any

from kequn.contract import raw_tables
from kequn.pii_proof import PII_COLUMN_NAMES

# ---------------------------------------------------------------------------------------
# The raw contract, typed: which columns are keys, dates, timestamps, numbers and codes
# (code column -> domain of seeds/mappings/code_mappings.csv). Column names come from
# the contract (models/staging/brokerage/_brokerage__sources.yml via kequn.contract);
# `typed_as` names the base model's typed column where it is not the contract column's name
# (the raw text is always `<column>_raw`).
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
        "typed_as": {"gender": "field_gender", "birth_date": "field_birth_date"},
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
        "typed_as": {"market_value": "market_value_local", "cost_value": "cost_value_local",
                     "is_restricted": "is_restricted_code"},
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
        "typed_as": {"trade_time": "traded_at", "amount": "amount_local", "fee": "fee_local"},
    },
    "cash_transfers": {
        "keys": ["transfer_id"],
        "dates": [], "timestamps": ["transfer_time"], "numbers": ["amount"],
        "codes": {"direction": "transfer_direction"},
        "typed_as": {"transfer_time": "transferred_at"},
    },
    "app_events": {
        "keys": ["event_date", "client_id", "event_type"],
        "dates": ["event_date"], "timestamps": [], "numbers": ["event_count"],
        "codes": {"event_type": "event_type", "device": "device"},
    },
}

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


# ---------------------------------------------------------------------------------------
# The raw gate on counts: one grouped pass over a base model's new batch (the typing pass's
# output) yields the table's profile, one row per contract column; the raw suites judge it.
# ---------------------------------------------------------------------------------------
PROFILE_COLUMNS = ("column_name", "check_kind", "present", "batch_rows", "filled_rows",
                   "bad_rows", "offending_values")
# lineage every base model carries (file, row, batch); _landed_at stays in the source CTE
BASE_LINEAGE = ("_source_file", "_row_in_file", "_batch_id")
# PII is read (id_number: decoded then hashed) or skipped (name, phone) by the typing pass,
# never carried as text: its presence in each delivered file is checked where files are read
CONTRACT_PII = ("name", "phone", "id_number")


def base_model(table: str) -> str:
    return f"base_brokerage__{table}"


def checked_columns(table: str) -> list[tuple[str, str]]:
    """[(contract column, check kind)] of a raw table: date, timestamp, number, code:<domain>."""
    spec = RAW_SPEC[table]
    return ([(c, "date") for c in spec["dates"]]
            + [(c, "timestamp") for c in spec["timestamps"]]
            + [(c, "number") for c in spec["numbers"]]
            + [(c, f"code:{d}") for c, d in spec["codes"].items()])


def typed_column(table: str, column: str) -> str:
    """The base model's typed output column for a contract column (same name unless renamed)."""
    return RAW_SPEC[table].get("typed_as", {}).get(column, column)


def raw_profile_sql(table: str, relation: str, base_columns: set[str],
                    since_batch: int | None = None, dialect: str = "duckdb") -> str:
    """One pass over the base model `relation` (its batch `since_batch`, or all rows): per
    contract column, whether the typing pass carried it, how many rows are filled and how
    many filled values its typing nulled (`<col>_raw` set, typed column null: unparseable or
    not a known code variant), with up to three distinct offending values; one `keys` row
    counts the rows missing a key. Nothing is parsed again: the typing pass decided.
    `dialect` "postgres" spells the lists as Postgres arrays (two sample values: no `first`)."""
    spec = RAW_SPEC[table]
    empty = "cast(array[] as text[])" if dialect == "postgres" else "cast([] as varchar[])"
    aggs = ["count(*) as batch_rows"]
    missing = " or ".join(f'"{k}_raw" is null' for k in spec["keys"]
                          if f"{k}_raw" in base_columns)
    keys_present = all(f"{k}_raw" in base_columns for k in spec["keys"])
    aggs.append(f"count(*) filter (where {missing or 'false'}) as missing_keys")
    rows = [f"select {_s(','.join(spec['keys']))}, 'keys', {_b(keys_present)}, batch_rows, "
            f"batch_rows - missing_keys, missing_keys, {empty} from counts"]
    checked = dict(checked_columns(table))
    for i, column in enumerate(c for c in raw_tables()[table] if c not in CONTRACT_PII):
        raw, typed = f"{column}_raw", typed_column(table, column)
        kind = checked.get(column, "column")
        if kind == "column":
            present = raw in base_columns or column in base_columns
            rows.append(f"select {_s(column)}, 'column', {_b(present)}, batch_rows, "
                        f"null::bigint, null::bigint, {empty} from counts")
            continue
        if raw not in base_columns or typed not in base_columns:
            rows.append(f"select {_s(column)}, {_s(kind)}, false, batch_rows, "
                        f"null::bigint, null::bigint, {empty} from counts")
            continue
        bad = f'"{raw}" is not null and "{typed}" is null'
        if dialect == "postgres":
            low, high = (f'min("{raw}") filter (where {bad})', f'max("{raw}") filter (where {bad})')
            values = (f"case when {low} = {high} then array_remove(array[{low}], null) "
                      f"else array[{low}, {high}] end")
        else:
            values = (f'list_distinct([min("{raw}") filter (where {bad}), '
                      f'max("{raw}") filter (where {bad}), first("{raw}") filter (where {bad})])')
        aggs.append(f'count("{raw}") as filled_{i}, count(*) filter (where {bad}) as bad_{i}, '
                    f"{values} as values_{i}")
        rows.append(f"select {_s(column)}, {_s(kind)}, true, batch_rows, filled_{i}, bad_{i}, "
                    f"values_{i} from counts")
    for column in BASE_LINEAGE:
        rows.append(f"select {_s(column)}, 'lineage', {_b(column in base_columns)}, batch_rows, "
                    f"null::bigint, null::bigint, {empty} from counts")
    scope = "" if since_batch is None else f" where _batch_id = {int(since_batch)}"
    names = ", ".join(PROFILE_COLUMNS)
    return ("with counts as materialized (\nselect\n    " + ",\n    ".join(aggs)
            + f"\nfrom {relation}{scope}\n)\nselect * from (\n"
            + "\nunion all\n".join(rows) + f"\n) as p ({names})")


def raw_profile_sql_empty(table: str) -> str:
    """The profile of a table whose base model is not in the database (nothing typed)."""
    return raw_profile_sql(table, "(select 1 where false)", set())


def _s(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _b(flag: bool) -> str:
    return "true" if flag else "false"


def _rate_query(kinds: str, limit: str) -> str:
    """Profile rows whose share of bad filled values is over its limit (below
    min_rows_for_rates filled rows only when every value is bad)."""
    return ("select column_name, check_kind, filled_rows, bad_rows, offending_values "
            f"from {{batch}} where present and {kinds} and bad_rows > filled_rows * {limit} "
            f"and (filled_rows >= {_param('min_rows_for_rates')} or bad_rows = filled_rows) "
            "order by column_name")


def raw_expectations(table: str) -> list:
    """The raw suite of one table, over its profile (see raw_profile_sql)."""
    import great_expectations as gx

    U = gx.expectations.UnexpectedRowsExpectation
    spec = RAW_SPEC[table]
    exps: list = [
        U(unexpected_rows_query=(
            "select column_name, check_kind from {batch} where not present order by 1"),
          description=f"raw {table}: every contract column is read and typed (extra columns "
                      "are fine; the base model carries each one, PII only as its hash)"),
        U(unexpected_rows_query=(
            f"select batch_rows, {_param(f'min_rows_{table}')} as min_rows, "
            f"{_param(f'max_rows_{table}')} as max_rows from {{batch}} "
            "where check_kind = 'keys' "
            f"and (batch_rows < {_param(f'min_rows_{table}')} "
            f"or batch_rows > coalesce({_param(f'max_rows_{table}')}, batch_rows))"),
          description=f"raw {table}: row count within bounds (thresholds.yml row_bounds)"),
        U(unexpected_rows_query=(
            "select batch_rows as total_rows, bad_rows as rows_missing_a_key from {batch} "
            f"where check_kind = 'keys' and bad_rows > batch_rows * "
            f"{_param('max_null_key_share')} "
            f"and (batch_rows >= {_param('min_rows_for_rates')} or bad_rows = batch_rows)"),
          description=f"raw {table}: key columns {', '.join(spec['keys'])} are filled "
                      "(share of rows missing a key <= max_null_key_share)"),
    ]
    typed = [*spec["dates"], *spec["timestamps"], *spec["numbers"]]
    if typed:
        exps.append(U(
            unexpected_rows_query=_rate_query(
                "check_kind in ('date', 'timestamp', 'number')",
                "(select value from gate_params where name = "
                "'max_unparseable_share_' || check_kind)"),
            description=f"raw {table}: filled values of {', '.join(typed)} parse as contract "
                        "dates / timestamps / numbers (share unparseable per column <= "
                        "max_unparseable_share_<kind>)"))
    if spec["codes"]:
        exps.append(U(
            unexpected_rows_query=_rate_query("check_kind like 'code:%'",
                                              _param("max_unknown_code_share")),
            description=f"raw {table}: filled values of {', '.join(spec['codes'])} are known "
                        "variants of their code lists (seeds/mappings/code_mappings.csv; "
                        "share unknown per column <= max_unknown_code_share)"))
    return exps


def _in_catalogue(column: str, catalogue_table: str = "known_group_codes") -> str:
    return (f"select {column}, count(*) as rows from {{batch}} where {column} is not null and "
            f"{column} not in (select code from {catalogue_table}) group by 1 limit 20")


# Marts expectations on aggregates: each holds exactly when its row-wise original did, but
# GX resolves it from table-level metrics (min, max, non-null and distinct counts, the set
# of distinct values) that it bundles into one query per mart, instead of fetching every
# offending row per expectation (expectations/README.md lists old -> new).
def _not_null(column: str) -> Any:
    import great_expectations as gx

    return gx.expectations.ExpectColumnProportionOfNonNullValuesToBeBetween(
        column=column, min_value=1, max_value=1,
        description=f"{column} is never null (share of non-null values = 1)")


def _unique(column: str, description: str | None = None) -> Any:
    import great_expectations as gx

    return gx.expectations.ExpectColumnProportionOfUniqueValuesToBeBetween(
        column=column, min_value=1, max_value=1,
        description=description or f"{column} is unique (distinct values = non-null values)")


def _between(column: str, min_value: float, max_value: float | None = None) -> list:
    import great_expectations as gx

    out = [gx.expectations.ExpectColumnMinToBeBetween(
        column=column, min_value=min_value,
        description=f"every {column} >= {min_value} (its minimum is)")]
    if max_value is not None:
        out.append(gx.expectations.ExpectColumnMaxToBeBetween(
            column=column, max_value=max_value,
            description=f"every {column} <= {max_value} (its maximum is)"))
    return out


def _in_set(column: str, values: list[str]) -> Any:
    import great_expectations as gx

    return gx.expectations.ExpectColumnDistinctValuesToBeInSet(
        column=column, value_set=values,
        description=f"every {column} is one of {', '.join(values)} (its distinct values are)")


def _grain(columns: list[str], description: str) -> Any:
    import great_expectations as gx

    cols = ", ".join(columns)
    return gx.expectations.UnexpectedRowsExpectation(
        unexpected_rows_query=(f"select {cols}, count(*) as rows from {{batch}} group by {cols} "
                               "having count(*) > 1 limit 20"),
        description=f"{description} ({cols} unique: one grouped query)")


def marts_expectations() -> dict[str, list]:
    """{asset: [expectation, ...]} for the published marts and the warehouse as a whole."""
    import great_expectations as gx

    E = gx.expectations
    U = E.UnexpectedRowsExpectation
    seg = [
        _not_null("client_id"),
        _unique("client_id", "grain: one row per client"),
        _not_null("as_of_date"),
        _not_null("primary_group"),
        _not_null("rule_version"),
        *_between("age", 0, 120),
        *_between("churn_risk_score", 0, 100),
        *_between("total_assets", 0),
        _in_set("gender", ["M", "F"]),
        U(unexpected_rows_query=_in_catalogue("primary_group"),
          description="primary_group is a group code of the catalogue (rules seed) or mass"),
        U(unexpected_rows_query=(
            "select client_id, group_codes, code from {batch}, "
            "unnest(string_split(coalesce(group_codes, ''), ',')) as t(code) "
            "where code <> '' and code not in (select code from known_group_codes) limit 20"),
          description="every code in group_codes is in the group catalogue"),
    ]
    for col, values in CATALOGUE.items():
        seg.append(_in_set(col, values))
    for col in ("asset_tier", "age_band", "trading_frequency", "lifecycle_stage"):
        seg.append(_not_null(col))

    memberships = [
        _grain(["client_id", "group_code"], "grain: client x group"),
        _not_null("evidence"),
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
        _grain(["client_id", "product_code"], "grain: client x product"),
        _in_set("risk_rating", ["R1", "R2", "R3", "R4", "R5"]),
        *_between("rank", 1),
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
        _grain(["client_id", "month_end"], "grain: client x month end"),
        _not_null("month_end"),
    ]
    for col in ("high_risk_share", "fixed_income_share", "tech_share", "online_trade_share"):
        features += _between(col, 0, 1)
    for col in ("total_assets", "trades_30d", "trades_90d", "trades_365d", "logins_30d",
                "logins_90d"):
        features += _between(col, 0)
    count_cols = ("clients", "total_assets", "active_clients", "zombie_clients")
    gms = [
        _grain(["month_end", "group_code"], "grain: month end x group"),
        U(unexpected_rows_query=_in_catalogue("group_code"),
          description="group_code is in the group catalogue"),
        U(unexpected_rows_query=(
            "select * from {batch} where active_clients > clients or zombie_clients > clients "
            "or churn_risk_clients > clients limit 20"),
          description="active, zombie and churn-risk clients are subsets of clients"),
    ]
    gms += [e for c in count_cols for e in _between(c, 0)]
    acq = [
        _grain(["open_channel", "primary_group"], "grain: acquisition channel x primary group"),
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
    acq += [e for c in count_cols for e in _between(c, 0)]
    recon = [
        _unique("table_name", "grain: one row per raw table"),
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
        _unique("group_code", "grain: one row per group"),
        _unique("priority"),
        *(_not_null(c) for c in (
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
