{{ config(**kequn.partition_overwrite_config('_batch_id')) }}
{#- Stored, incremental by landing batch: landed files never change, so a raw row is typed
    and checked once, when its batch lands; a nightly run types only the new batches. The
    staging model and its _rejected twin both read this table. -#}
-- Every raw app_events row, typed, with the first rule it breaks (null when it passes).
with

source as (

    -- each delivered file read in place, once (macros/delivery): a nightly run reads
    -- only the files of the batches landed since this table was last built
    select * from {{ kequn.delivered_rows('app_events') }} as delivered

),

typed as (

    select
        -- raw text (blank as null), for reject_value
        {{ blank_to_null('event_date') }} as event_date_raw,
        {{ blank_to_null('client_id') }} as client_id_raw,
        {{ blank_to_null('event_type') }} as event_type_raw,
        {{ blank_to_null('device') }} as device_raw,
        {{ blank_to_null('event_count') }} as event_count_raw,
        -- ids
        {{ blank_to_null('client_id') }} as client_id,
        -- codes
        {{ normalize_code('event_type', 'event_type') }} as event_type,
        {{ normalize_code('device', 'device') }} as device,
        -- numerics
        {{ safe_integer('event_count') }} as event_count,
        -- dates
        {{ parse_date('event_date') }} as event_date,
        -- lineage
        _source_file,
        _row_in_file,
        _batch_id

    from source

),

-- reject rules: the first a row breaks decides; then conflicts within its file
{%- set reject_rules = [
    ['event_date_raw is null', 'missing_key', 'event_date'],
    ['client_id_raw is null', 'missing_key', 'client_id'],
    ['event_type_raw is null', 'missing_key', 'event_type'],
    ['device_raw is null', 'missing_key', 'device'],
    ['event_date is null', 'unparseable_date', 'event_date'],
    ['event_type is null', 'unknown_code', 'event_type'],
    ['device is null', 'unknown_code', 'device'],
    ['event_count is null and ' ~ is_missing_number('event_count_raw'), 'missing_value', 'event_count'],
    ['event_count is null', 'unparseable_number', 'event_count'],
    ['event_count <= 0', 'non_positive_count', 'event_count'],
] %}
{%- set conflict_keys = ['event_date', 'client_id', 'event_type', 'device'] %}
{%- set conflict_values = [
    'event_count',
] %}

{{ kequn.conflicting_rows_in_file_ctes('typed', conflict_keys, conflict_values, reject_rules) }}

{%- set all_rules = reject_rules + [
    [kequn.is_conflicting_in_file(), 'conflicting_rows_in_file', 'client_id'],
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
