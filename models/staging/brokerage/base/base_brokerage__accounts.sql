{{ config(**kequn.partition_overwrite_config('_batch_id')) }}
{#- Stored, incremental by landing batch: landed files never change, so a raw row is typed
    and checked once, when its batch lands; a nightly run types only the new batches. The
    staging model and its _rejected twin both read this table. -#}
-- Every raw accounts row, typed, with the first rule it breaks (null when it passes).
-- Master data: a bad attribute is nulled (listed in nulled_raw_values), not rejected.
with

source as (

    -- each delivered file read in place, once (macros/delivery): a nightly run reads
    -- only the files of the batches landed since this table was last built
    select * from {{ kequn.delivered_rows('accounts') }} as delivered

),

typed as (

    select
        -- raw text (blank as null), for reject_value and nulled_raw_values
        {{ blank_to_null('account_id') }} as account_id_raw,
        {{ blank_to_null('account_type') }} as account_type_raw,
        {{ blank_to_null('open_date') }} as open_date_raw,
        {{ blank_to_null('status') }} as status_raw,
        {{ blank_to_null('close_date') }} as close_date_raw,
        {{ blank_to_null('updated_at') }} as updated_at_raw,
        -- ids
        {{ blank_to_null('account_id') }} as account_id,
        {{ blank_to_null('client_id') }} as client_id,
        -- codes
        {{ normalize_code('account_type', 'account_type') }} as account_type,
        {{ normalize_code('status', 'account_status') }} as status,
        -- dates and timestamps
        {{ parse_date('open_date') }} as open_date,
        {{ parse_date('close_date') }} as close_date,
        {{ parse_local_timestamp('updated_at') }} as updated_at,
        -- lineage
        _source_file,
        _row_in_file,
        _batch_id

    from source

),

-- reject rules: the first a row breaks decides; then conflicts within its file
{%- set reject_rules = [
    ['account_id_raw is null', 'missing_key', 'account_id'],
] %}
{%- set conflict_keys = ['account_id', 'updated_at'] %}
{%- set conflict_values = [
    'client_id',
    'account_type',
    'status',
    'open_date',
    'close_date',
] %}

{{ kequn.conflicting_rows_in_file_ctes('typed', conflict_keys, conflict_values, reject_rules) }}

{%- set all_rules = reject_rules + [
    [kequn.is_conflicting_in_file(), 'conflicting_rows_in_file', 'account_id'],
] %}

checked as (

    select
        typed.*,
        {{ nulled_raw_values(['account_type', 'open_date', 'status', 'close_date', 'updated_at']) }}
            as nulled_raw_values,
        {{ reject_columns(all_rules) }}

    from typed
    {{ kequn.join_conflicts_in_file('typed', conflict_keys) }}
    {{ broken_rule(all_rules) }}

)

select * from checked
