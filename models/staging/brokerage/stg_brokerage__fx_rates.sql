with

base as (

    select * from {{ ref('base_brokerage__fx_rates') }}
    where {{ kequn.live_batches() }}

),

valid as (

    select * from base
    where _reject_reason is null

),

ranked as (

    select
        *,
        -- later file wins: greater _source_file, then greater _row_in_file
        row_number() over (
            partition by rate_date, currency
            order by _source_file desc, _row_in_file desc
        ) as _rank,
        count(*) over (partition by rate_date, currency) - 1 as _superseded_rows

    from valid

),

final as (

    select
        rate_date,
        currency,
        cny_per_unit,
        _superseded_rows,
        _source_file,
        _row_in_file,
        _batch_id

    from ranked
    where _rank = 1

)

select * from final
