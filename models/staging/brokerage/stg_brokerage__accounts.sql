with

base as (

    select * from {{ ref('base_brokerage__accounts') }}
    where {{ kequn.live_batches() }}

),

valid as (

    select * from base
    where _reject_reason is null

),

ranked as (

    select
        *,
        -- latest version wins; ties (and re-deliveries) go to the later file
        row_number() over (
            partition by account_id
            order by updated_at desc nulls last, _source_file desc, _row_in_file desc
        ) as _rank,
        count(*) over (partition by account_id) - 1 as _superseded_rows

    from valid

),

final as (

    select
        account_id,
        client_id,
        account_type,
        open_date,
        status,
        close_date,
        updated_at,
        nulled_raw_values,
        _superseded_rows,
        _source_file,
        _row_in_file,
        _batch_id

    from ranked
    where _rank = 1

)

select * from final
