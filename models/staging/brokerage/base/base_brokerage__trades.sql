{{ config(**kequn.partition_overwrite_config('_batch_id')) }}
{#- Stored, incremental by landing batch: landed files never change, so a raw row is typed
    and checked once, when its batch lands; a nightly run types only the new batches. The
    staging model and its _rejected twin both read this table. -#}
-- Every raw trades row (one row per version of a trade), typed, with the first rule it
-- breaks (null when it passes).
with

source as (

    -- each delivered file read in place, once (macros/delivery): a nightly run reads
    -- only the files of the batches landed since this table was last built
    select * from {{ kequn.delivered_rows('trades') }} as delivered

),

typed as (

    select
        -- raw text (blank as null), for reject_value
        {{ blank_to_null('trade_id') }} as trade_id_raw,
        {{ blank_to_null('trade_time') }} as trade_time_raw,
        {{ blank_to_null('side') }} as side_raw,
        {{ blank_to_null('quantity') }} as quantity_raw,
        {{ blank_to_null('price') }} as price_raw,
        {{ blank_to_null('amount') }} as amount_raw,
        {{ blank_to_null('fee') }} as fee_raw,
        {{ blank_to_null('channel') }} as channel_raw,
        {{ blank_to_null('status') }} as status_raw,
        {{ blank_to_null('updated_at') }} as updated_at_raw,
        -- ids
        {{ blank_to_null('trade_id') }} as trade_id,
        {{ blank_to_null('account_id') }} as account_id,
        upper({{ blank_to_null('product_code') }}) as product_code,
        -- codes
        {{ normalize_code('side', 'trade_side') }} as side,
        {{ normalize_code('channel', 'trade_channel') }} as channel,
        {{ normalize_code('status', 'trade_status') }} as status,
        -- numerics (product currency)
        {{ safe_decimal('quantity') }} as quantity,
        {{ safe_decimal('price') }} as price,
        {{ safe_decimal('amount') }} as amount_local,
        {{ safe_decimal('fee') }} as fee_local,
        -- timestamps (local exchange time)
        {{ parse_local_timestamp('trade_time') }} as traded_at,
        {{ parse_local_timestamp('updated_at') }} as updated_at,
        -- lineage
        _source_file,
        _row_in_file,
        _batch_id

    from source

),

-- reject rules: the first a row breaks decides; then conflicts within its file
{%- set reject_rules = [
    ['trade_id_raw is null', 'missing_key', 'trade_id'],
    ['status_raw is null', 'missing_value', 'status'],
    ['status is null', 'unknown_code', 'status'],
    ['trade_time_raw is null', 'missing_value', 'trade_time'],
    ['traded_at is null', 'unparseable_timestamp', 'trade_time'],
    ['updated_at_raw is not null and updated_at is null', 'unparseable_timestamp', 'updated_at'],
    ['side_raw is null', 'missing_value', 'side'],
    ['side is null', 'unknown_code', 'side'],
    ['channel_raw is not null and channel is null', 'unknown_code', 'channel'],
    ['quantity is null and ' ~ is_missing_number('quantity_raw'), 'missing_value', 'quantity'],
    ['quantity is null', 'unparseable_number', 'quantity'],
    ['price is null and ' ~ is_missing_number('price_raw'), 'missing_value', 'price'],
    ['price is null', 'unparseable_number', 'price'],
    ['amount_local is null and ' ~ is_missing_number('amount_raw'), 'missing_value', 'amount'],
    ['amount_local is null', 'unparseable_number', 'amount'],
    ['fee_local is null and not ' ~ is_missing_number('fee_raw'), 'unparseable_number', 'fee'],
    ['quantity < 0', 'negative_quantity', 'quantity'],
    ['price < 0', 'negative_price', 'price'],
    ['amount_local < 0', 'negative_amount', 'amount'],
    ["status = 'filled' and price = 0", 'zero_price', 'price'],
    ["status = 'filled' and side in ('buy', 'sell') and abs(amount_local - quantity * price) > "
        ~ var('trade_amount_tolerance') ~ " * quantity * price", 'amount_mismatch', 'amount'],
] %}
{%- set conflict_keys = ['trade_id', 'updated_at'] %}
{%- set conflict_values = [
    'account_id',
    'product_code',
    'traded_at',
    'side',
    'quantity',
    'price',
    'amount_local',
    'fee_local',
    'channel',
    'status',
] %}

{{ kequn.conflicting_rows_in_file_ctes('typed', conflict_keys, conflict_values, reject_rules) }}

{%- set all_rules = reject_rules + [
    [kequn.is_conflicting_in_file(), 'conflicting_rows_in_file', 'trade_id'],
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
