with

base as (

    select * from {{ ref('base_brokerage__products') }}
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
            partition by product_code
            order by _source_file desc, _row_in_file desc
        ) as _rank,
        count(*) over (partition by product_code) - 1 as _superseded_rows

    from valid

),

final as (

    select
        product_code,
        product_name,
        product_type,
        board,
        risk_rating,
        risk_rating_rank,
        issuer_industry,
        currency,
        nulled_raw_values,
        _superseded_rows,
        _source_file,
        _row_in_file,
        _batch_id

    from ranked
    where _rank = 1

)

select * from final
