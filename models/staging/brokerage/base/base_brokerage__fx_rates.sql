{{ config(**kequn.partition_overwrite_config('_batch_id')) }}
{#- Stored, incremental by landing batch: landed files never change, so a raw row is typed
    and checked once, when its batch lands; a nightly run types only the new batches. The
    staging model and its _rejected twin both read this table. -#}
-- Every raw fx_rates row, typed, with the first rule it breaks (null when it passes).
with

source as (

    -- each delivered file read in place, once (macros/delivery): a nightly run reads
    -- only the files of the batches landed since this table was last built
    select * from {{ kequn.delivered_rows('fx_rates') }} as delivered

),

typed as (

    select
        -- raw text (blank as null), kept for reject_value
        {{ blank_to_null('rate_date') }} as rate_date_raw,
        {{ blank_to_null('currency') }} as currency_raw,
        {{ blank_to_null('cny_per_unit') }} as cny_per_unit_raw,
        -- typed
        {{ parse_date('rate_date') }} as rate_date,
        {{ normalize_code('currency', 'currency') }} as currency,
        {{ safe_decimal('cny_per_unit') }} as cny_per_unit,
        -- lineage
        _source_file,
        _row_in_file,
        _batch_id

    from source

),

-- reject rules: the first a row breaks decides; then conflicts within its file
{%- set reject_rules = [
    ['rate_date_raw is null', 'missing_key', 'rate_date'],
    ['currency_raw is null', 'missing_key', 'currency'],
    ['rate_date is null', 'unparseable_date', 'rate_date'],
    ['currency is null', 'unknown_code', 'currency'],
    ['cny_per_unit is null and ' ~ is_missing_number('cny_per_unit_raw'), 'missing_value', 'cny_per_unit'],
    ['cny_per_unit is null', 'unparseable_number', 'cny_per_unit'],
    ['cny_per_unit <= 0', 'non_positive_rate', 'cny_per_unit'],
] %}
{%- set conflict_keys = ['rate_date', 'currency'] %}
{%- set conflict_values = [
    'cny_per_unit',
] %}

{{ kequn.conflicting_rows_in_file_ctes('typed', conflict_keys, conflict_values, reject_rules) }}

{%- set all_rules = reject_rules + [
    [kequn.is_conflicting_in_file(), 'conflicting_rows_in_file', 'currency'],
] %}

checked as (

    select
        typed.*,
        {{ reject_columns(all_rules) }}

    from typed
    {{ kequn.join_conflicts_in_file('typed', conflict_keys) }}
    {{ broken_rule(all_rules) }}

)

select * from checked
