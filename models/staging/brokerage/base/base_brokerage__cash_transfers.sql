{{ config(**kequn.partition_overwrite_config('_batch_id')) }}
{#- Stored, incremental by landing batch: landed files never change, so a raw row is typed
    and checked once, when its batch lands; a nightly run types only the new batches. The
    staging model and its _rejected twin both read this table. -#}
-- Every raw cash_transfers row, typed, with the first rule it breaks (null when it passes).
with

source as (

    -- each delivered file read in place, once (macros/delivery): a nightly run reads
    -- only the files of the batches landed since this table was last built
    select * from {{ kequn.delivered_rows('cash_transfers') }} as delivered

),

typed as (

    select
        -- raw text (blank as null), for reject_value
        {{ blank_to_null('transfer_id') }} as transfer_id_raw,
        {{ blank_to_null('transfer_time') }} as transfer_time_raw,
        {{ blank_to_null('direction') }} as direction_raw,
        {{ blank_to_null('amount') }} as amount_raw,
        -- ids
        {{ blank_to_null('transfer_id') }} as transfer_id,
        {{ blank_to_null('account_id') }} as account_id,
        -- codes
        {{ normalize_code('direction', 'transfer_direction') }} as direction,
        -- numerics
        {{ safe_decimal('amount') }} as amount,
        -- timestamps (local exchange time)
        {{ parse_local_timestamp('transfer_time') }} as transferred_at,
        -- lineage
        _source_file,
        _row_in_file,
        _batch_id

    from source

),

-- reject rules: the first a row breaks decides; then conflicts within its file
{%- set reject_rules = [
    ['transfer_id_raw is null', 'missing_key', 'transfer_id'],
    ['transfer_time_raw is null', 'missing_value', 'transfer_time'],
    ['transferred_at is null', 'unparseable_timestamp', 'transfer_time'],
    ['direction_raw is null', 'missing_value', 'direction'],
    ['direction is null', 'unknown_code', 'direction'],
    ['amount is null and ' ~ is_missing_number('amount_raw'), 'missing_value', 'amount'],
    ['amount is null', 'unparseable_number', 'amount'],
    ['amount <= 0', 'non_positive_amount', 'amount'],
] %}
{%- set conflict_keys = ['transfer_id'] %}
{%- set conflict_values = [
    'account_id',
    'direction',
    'amount',
    'transferred_at',
] %}

{{ kequn.conflicting_rows_in_file_ctes('typed', conflict_keys, conflict_values, reject_rules) }}

{%- set all_rules = reject_rules + [
    [kequn.is_conflicting_in_file(), 'conflicting_rows_in_file', 'transfer_id'],
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
