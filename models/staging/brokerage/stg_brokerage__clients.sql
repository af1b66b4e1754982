with

base as (

    select * from {{ ref('base_brokerage__clients') }}
    where {{ kequn.live_batches() }}

),

valid as (

    select * from base
    where _reject_reason is null

),

deduplicated as (

    select
        *,
        -- one row per version: a re-delivered version loses to the later file's copy
        row_number() over (
            partition by client_id, updated_at
            order by _source_file desc, _row_in_file desc
        ) as _rank,
        count(*) over (partition by client_id, updated_at) - 1 as _superseded_rows

    from valid

),

versions as (

    select
        *,
        lead(updated_at) over (partition by client_id order by updated_at) as valid_to

    from deduplicated
    where _rank = 1

),

final as (

    select
        -- ids
        client_id,
        client_type,
        person_key,
        id_number_status,
        -- person
        birth_date,
        birth_date_source,
        birth_date_issue,
        gender,
        occupation,
        employer_name,
        employer_industry,
        employer_listed_board,
        job_title,
        education,
        marital_status,
        children_count,
        youngest_child_birth_year,
        -- relationship
        risk_level,
        risk_assessed_date,
        open_date,
        open_channel,
        branch_id,
        city,
        status,
        close_date,
        -- versioning
        updated_at,
        valid_to,
        valid_to is null as is_current_version,
        -- data quality and lineage
        nulled_raw_values,
        _superseded_rows,
        _source_file,
        _row_in_file,
        _batch_id

    from versions

)

select * from final
