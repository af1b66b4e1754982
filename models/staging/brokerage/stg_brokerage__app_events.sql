with

base as (

    select * from {{ ref('base_brokerage__app_events') }}

),

valid as (

    select * from base
    where _reject_reason is null

),

ranked as (

    select
        *,
        -- a re-delivered day: the later file wins
        row_number() over (
            partition by event_date, client_id, event_type, device
            order by _source_file desc, _row_in_file desc
        ) as _rank,
        count(*) over (partition by event_date, client_id, event_type, device) - 1 as _superseded_rows

    from valid

),

final as (

    select
        event_date,
        client_id,
        event_type,
        device,
        event_count,
        _superseded_rows,
        _source_file,
        _row_in_file,
        _batch_id

    from ranked
    where _rank = 1

)

select * from final
