{{ config(**kequn.partition_overwrite_config('_batch_id')) }}
{#- Stored, incremental by landing batch: landed files never change, so a raw row is typed
    and checked once, when its batch lands; a nightly run types only the new batches. The
    staging model and its _rejected twin both read this table. -#}
-- Every raw balances row, typed, with the first rule it breaks (null when it passes).
with

source as (

    -- each delivered file read in place, once (macros/delivery): a nightly run reads
    -- only the files of the batches landed since this table was last built
    select * from {{ kequn.delivered_rows('balances') }} as delivered

),

typed as (

    select
        -- raw text (blank as null), for reject_value
        {{ blank_to_null('snapshot_date') }} as snapshot_date_raw,
        {{ blank_to_null('account_id') }} as account_id_raw,
        {{ blank_to_null('cash_balance') }} as cash_balance_raw,
        {{ blank_to_null('margin_debt') }} as margin_debt_raw,
        -- ids
        {{ blank_to_null('account_id') }} as account_id,
        -- dates
        {{ parse_date('snapshot_date') }} as snapshot_date,
        -- numerics (blank margin debt means none, as for non-margin accounts)
        {{ safe_decimal('cash_balance') }} as cash_balance,
        coalesce({{ safe_decimal('margin_debt') }}, case when {{ is_missing_number('margin_debt') }} then 0 end)
            as margin_debt,
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
    ['snapshot_date is null', 'unparseable_date', 'snapshot_date'],
    ['cash_balance is null and ' ~ is_missing_number('cash_balance_raw'), 'missing_value', 'cash_balance'],
    ['cash_balance is null', 'unparseable_number', 'cash_balance'],
    ['margin_debt is null', 'unparseable_number', 'margin_debt'],
    ['margin_debt < 0', 'negative_margin_debt', 'margin_debt'],
] %}
{%- set conflict_keys = ['snapshot_date', 'account_id'] %}
{%- set conflict_values = [
    'cash_balance',
    'margin_debt',
] %}

{{ kequn.conflicting_rows_in_file_ctes('typed', conflict_keys, conflict_values, reject_rules) }}

{%- set all_rules = reject_rules + [
    [kequn.is_conflicting_in_file(), 'conflicting_rows_in_file', 'account_id'],
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
