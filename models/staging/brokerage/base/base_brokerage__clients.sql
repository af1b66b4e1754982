{{ config(**kequn.partition_overwrite_config('_batch_id')) }}
{#- Stored, incremental by landing batch: landed files never change, so a raw row is typed
    and checked once, when its batch lands; a nightly run types only the new batches. The
    staging model and its _rejected twin both read this table. -#}
-- Every raw clients row, typed, PII decoded then hashed (name and phone never read), with
-- the first rule it breaks (null when it passes).
{%- set most_trusted =
    'coalesce(valid_id_birth_date, field_birth_date, legacy_id_birth_date, unverified_id_birth_date)' %}

with

source as (

    -- each delivered file read in place, once (macros/delivery): a nightly run reads
    -- only the files of the batches landed since this table was last built
    select * from {{ kequn.delivered_rows('clients') }} as delivered

),

typed as (

    select
        -- raw text (blank as null): for reject_value and nulled_raw_values, never PII
        {{ blank_to_null('client_id') }} as client_id_raw,
        {{ blank_to_null('updated_at') }} as updated_at_raw,
        {{ blank_to_null('client_type') }} as client_type_raw,
        {{ blank_to_null('gender') }} as gender_raw,
        {{ blank_to_null('birth_date') }} as birth_date_raw,
        {{ blank_to_null('occupation') }} as occupation_raw,
        {{ blank_to_null('employer_industry') }} as employer_industry_raw,
        {{ blank_to_null('employer_listed_board') }} as employer_listed_board_raw,
        {{ blank_to_null('education') }} as education_raw,
        {{ blank_to_null('marital_status') }} as marital_status_raw,
        {{ blank_to_null('children_count') }} as children_count_raw,
        {{ blank_to_null('youngest_child_birth_year') }} as youngest_child_birth_year_raw,
        {{ blank_to_null('risk_level') }} as risk_level_raw,
        {{ blank_to_null('risk_assessed_date') }} as risk_assessed_date_raw,
        {{ blank_to_null('open_date') }} as open_date_raw,
        {{ blank_to_null('open_channel') }} as open_channel_raw,
        {{ blank_to_null('status') }} as status_raw,
        {{ blank_to_null('close_date') }} as close_date_raw,
        -- ids
        {{ blank_to_null('client_id') }} as client_id,
        {{ hash_pii('id_number') }} as person_key,
        {{ id_number_status('id_number') }} as id_number_status,
        {{ id_number_birth_date('id_number') }} as id_birth_date,
        {{ id_number_gender('id_number') }} as id_gender,
        -- codes (blank client_type means individual, per the contract)
        case
            when {{ blank_to_null('client_type') }} is null then 'individual'
            else {{ normalize_code('client_type', 'client_type') }}
        end as client_type,
        {{ normalize_code('gender', 'gender') }} as field_gender,
        {{ normalize_code('occupation', 'occupation') }} as occupation,
        {{ normalize_code('employer_industry', 'industry') }} as employer_industry,
        {{ normalize_code('employer_listed_board', 'listed_board') }} as employer_listed_board,
        {{ normalize_code('education', 'education') }} as education,
        {{ normalize_code('marital_status', 'marital_status') }} as marital_status,
        {{ normalize_code('risk_level', 'risk_level') }} as risk_level,
        {{ normalize_code('open_channel', 'open_channel') }} as open_channel,
        {{ normalize_code('status', 'client_status') }} as status,
        -- free text
        {{ blank_to_null('employer_name') }} as employer_name,
        {{ blank_to_null('job_title') }} as job_title,
        {{ blank_to_null('branch_id') }} as branch_id,
        {{ blank_to_null('city') }} as city,
        -- numerics
        {{ safe_integer('children_count') }} as children_count,
        {{ safe_integer('youngest_child_birth_year') }} as youngest_child_birth_year,
        -- dates and timestamps
        {{ parse_date('birth_date') }} as field_birth_date,
        {{ parse_date('risk_assessed_date') }} as risk_assessed_date,
        {{ parse_date('open_date') }} as open_date,
        {{ parse_date('close_date') }} as close_date,
        {{ parse_local_timestamp('updated_at') }} as updated_at,
        {{ parse_date('substr(_landed_at, 1, 10)') }} as _landed_date,
        -- lineage
        _source_file,
        _row_in_file,
        _batch_id

    from source

),

birth_dates as (

    select
        *,
        -- candidates, most trusted first: a valid ID, the typed field, a legacy 15-char
        -- ID (no checksum), an ID that fails its checksum (last resort)
        case when id_number_status = 'valid' then id_birth_date end as valid_id_birth_date,
        case when id_number_status = 'legacy_15' then id_birth_date end as legacy_id_birth_date,
        case when id_number_status = 'invalid_checksum' then id_birth_date end as unverified_id_birth_date,
        case
            when id_number_status = 'valid' then id_gender
            when field_gender is not null then field_gender
            when id_number_status in ('legacy_15', 'invalid_checksum') then id_gender
        end as gender

    from typed

),

derived as (

    select
        *,
        -- the first candidate that is possible (not after the landing date, age <= 120)
        case
            when {{ is_possible_birth_date('valid_id_birth_date', '_landed_date') }} then 'id_number'
            when {{ is_possible_birth_date('field_birth_date', '_landed_date') }} then 'birth_date'
            when {{ is_possible_birth_date('legacy_id_birth_date', '_landed_date') }} then 'legacy_id'
            when {{ is_possible_birth_date('unverified_id_birth_date', '_landed_date') }} then 'unverified_id'
        end as birth_date_source,
        -- what is doubtful about the most trusted candidate
        case
            when {{ most_trusted }} > _landed_date then 'future'
            when not {{ is_possible_birth_date(most_trusted, '_landed_date') }} then 'over_120'
            when birth_date_raw is not null and field_birth_date is null then 'unparseable'
            when valid_id_birth_date <> field_birth_date then 'disagrees_with_id'
        end as birth_date_issue

    from birth_dates

),

-- reject rules: the first a row breaks decides; then conflicts within its file
{%- set reject_rules = [
    ['client_id_raw is null', 'missing_key', 'client_id'],
    ['updated_at_raw is null', 'missing_key', 'updated_at'],
    ['updated_at is null', 'unparseable_timestamp', 'updated_at'],
] %}
{%- set conflict_keys = ['client_id', 'updated_at'] %}
{%- set conflict_values = [
    'person_key',
    'client_type',
    'field_gender',
    'occupation',
    'employer_industry',
    'employer_listed_board',
    'education',
    'marital_status',
    'risk_level',
    'open_channel',
    'status',
    'employer_name',
    'job_title',
    'branch_id',
    'city',
    'children_count',
    'youngest_child_birth_year',
    'field_birth_date',
    'risk_assessed_date',
    'open_date',
    'close_date',
] %}

{{ kequn.conflicting_rows_in_file_ctes('derived', conflict_keys, conflict_values, reject_rules) }}

{%- set all_rules = reject_rules + [
    [kequn.is_conflicting_in_file(), 'conflicting_rows_in_file', 'client_id'],
] %}

checked as (

    select
        derived.*,
        case derived.birth_date_source
            when 'id_number' then derived.valid_id_birth_date
            when 'birth_date' then derived.field_birth_date
            when 'legacy_id' then derived.legacy_id_birth_date
            when 'unverified_id' then derived.unverified_id_birth_date
        end as birth_date,
        {{ nulled_raw_values([
            'client_type', ['gender', 'field_gender'], 'occupation', 'employer_industry',
            'employer_listed_board', 'education', 'marital_status', 'children_count',
            'youngest_child_birth_year', 'risk_level', 'risk_assessed_date', 'open_date',
            'open_channel', 'status', 'close_date',
        ]) }} as nulled_raw_values,
        {{ reject_columns(all_rules) }}

    from derived
    {{ kequn.join_conflicts_in_file('derived', conflict_keys) }}
    {{ broken_rule(all_rules) }}

)

select * from checked
