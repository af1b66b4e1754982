{{ config(**kequn.partition_overwrite_config('_batch_id')) }}
{#- Stored, incremental by landing batch: landed files never change, so a raw row is typed
    and checked once, when its batch lands; a nightly run types only the new batches. The
    staging model and its _rejected twin both read this table. -#}
-- Every raw products row, typed, with the first rule it breaks (null when it passes).
-- Master data: a bad attribute is nulled (listed in nulled_raw_values), not rejected.
with

source as (

    -- each delivered file read in place, once (macros/delivery): a nightly run reads
    -- only the files of the batches landed since this table was last built
    select * from {{ kequn.delivered_rows('products') }} as delivered

),

typed as (

    select
        -- raw text (blank as null), for reject_value and nulled_raw_values
        {{ blank_to_null('product_code') }} as product_code_raw,
        {{ blank_to_null('product_type') }} as product_type_raw,
        {{ blank_to_null('board') }} as board_raw,
        {{ blank_to_null('risk_rating') }} as risk_rating_raw,
        {{ blank_to_null('issuer_industry') }} as issuer_industry_raw,
        {{ blank_to_null('currency') }} as currency_raw,
        -- ids
        upper({{ blank_to_null('product_code') }}) as product_code,
        -- strings
        {{ blank_to_null('product_name') }} as product_name,
        -- codes (blank currency means CNY, per the contract)
        {{ normalize_code('product_type', 'product_type') }} as product_type,
        {{ normalize_code('board', 'listed_board') }} as board,
        {{ normalize_code('risk_rating', 'risk_rating') }} as risk_rating,
        {{ normalize_code('issuer_industry', 'industry') }} as issuer_industry,
        case
            when {{ blank_to_null('currency') }} is null then 'CNY'
            else {{ normalize_code('currency', 'currency') }}
        end as currency,
        -- lineage
        _source_file,
        _row_in_file,
        _batch_id

    from source

),

-- reject rules: the first a row breaks decides; then conflicts within its file
{%- set reject_rules = [
    ['product_code_raw is null', 'missing_key', 'product_code'],
] %}
{%- set conflict_keys = ['product_code'] %}
{%- set conflict_values = [
    'product_name',
    'product_type',
    'board',
    'risk_rating',
    'issuer_industry',
    'currency',
] %}

{{ kequn.conflicting_rows_in_file_ctes('typed', conflict_keys, conflict_values, reject_rules) }}

{%- set all_rules = reject_rules + [
    [kequn.is_conflicting_in_file(), 'conflicting_rows_in_file', 'product_code'],
] %}

checked as (

    select
        typed.*,
        {{ dbt.safe_cast('substr(risk_rating, 2, 1)', dbt.type_int()) }} as risk_rating_rank,
        {{ nulled_raw_values(['product_type', 'board', 'risk_rating', 'issuer_industry', 'currency']) }}
            as nulled_raw_values,
        {{ reject_columns(all_rules) }}

    from typed
    {{ kequn.join_conflicts_in_file('typed', conflict_keys) }}
    {{ broken_rule(all_rules) }}

)

select * from checked
