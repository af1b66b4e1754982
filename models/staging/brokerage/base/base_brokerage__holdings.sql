{{ config(**kequn.partition_overwrite_config('_batch_id')) }}
{#- Stored, incremental by landing batch: landed files never change, so a raw row is typed
    and checked once, when its batch lands; a nightly run types only the new batches. The
    staging model and its _rejected twin both read this table. -#}
-- Every raw holdings row, typed, with the first rule it breaks (null when it passes).
with

source as (

    -- each delivered file read in place, once (macros/delivery): a nightly run reads
    -- only the files of the batches landed since this table was last built
    select * from {{ kequn.delivered_rows('holdings') }} as delivered

),

typed as (

    select
        -- raw text (blank as null), for reject_value
        {{ blank_to_null('snapshot_date') }} as snapshot_date_raw,
        {{ blank_to_null('account_id') }} as account_id_raw,
        {{ blank_to_null('product_code') }} as product_code_raw,
        {{ blank_to_null('quantity') }} as quantity_raw,
        {{ blank_to_null('market_value') }} as market_value_raw,
        {{ blank_to_null('cost_value') }} as cost_value_raw,
        {{ blank_to_null('is_restricted') }} as is_restricted_raw,
        -- ids
        {{ blank_to_null('account_id') }} as account_id,
        upper({{ blank_to_null('product_code') }}) as product_code,
        -- dates
        {{ parse_date('snapshot_date') }} as snapshot_date,
        -- numerics
        {{ safe_decimal('quantity') }} as quantity,
        {{ safe_decimal('market_value') }} as market_value_local,
        {{ safe_decimal('cost_value') }} as cost_value_local,
        -- booleans (blank means not restricted)
        case
            when {{ blank_to_null('is_restricted') }} is null then 'N'
            else {{ normalize_code('is_restricted', 'yes_no') }}
        end as is_restricted_code,
        -- lineage
        _source_file,
        _row_in_file,
        _batch_id

    from source

),

-- reject rules: the first a row breaks decides; then conflicts within its file
{%- set reject_rules = [
    ['snapshot_date_raw is null', 'missing_key', 'snapshot_date'],
    ['account_id_raw is null', 'missing_key', 'account_id'],
    ['product_code_raw is null', 'missing_key', 'product_code'],
    ['snapshot_date is null', 'unparseable_date', 'snapshot_date'],
    ['quantity is null and ' ~ is_missing_number('quantity_raw'), 'missing_value', 'quantity'],
    ['quantity is null', 'unparseable_number', 'quantity'],
    ['market_value_local is null and ' ~ is_missing_number('market_value_raw'), 'missing_value', 'market_value'],
    ['market_value_local is null', 'unparseable_number', 'market_value'],
    ['cost_value_local is null and not ' ~ is_missing_number('cost_value_raw'), 'unparseable_number', 'cost_value'],
    ['is_restricted_code is null', 'unknown_code', 'is_restricted'],
    ['quantity < 0', 'negative_quantity', 'quantity'],
    ['market_value_local < 0', 'negative_market_value', 'market_value'],
] %}
{%- set conflict_keys = ['snapshot_date', 'account_id', 'product_code'] %}
{%- set conflict_values = [
    'quantity',
    'market_value_local',
    'cost_value_local',
    'is_restricted_code',
] %}

{{ kequn.conflicting_rows_in_file_ctes('typed', conflict_keys, conflict_values, reject_rules) }}

{%- set all_rules = reject_rules + [
    [kequn.is_conflicting_in_file(), 'conflicting_rows_in_file', 'product_code'],
] %}

checked as (

    select
        typed.*,
        typed.is_restricted_code = 'Y' as is_restricted,
        {{ reject_columns(all_rules) }}

    from typed
    {{ kequn.join_conflicts_in_file('typed', conflict_keys) }}
    {{ broken_rule(all_rules) }}

)

select * from checked
