with

base as (

    select * from {{ ref('base_brokerage__holdings') }}

),

valid as (

    select * from base
    where _reject_reason is null

),

ranked as (

    select
        *,
        -- a re-delivered snapshot row: the later file wins
        row_number() over (
            partition by snapshot_date, account_id, product_code
            order by _source_file desc, _row_in_file desc
        ) as _rank,
        count(*) over (partition by snapshot_date, account_id, product_code) - 1 as _superseded_rows

    from valid

),

final as (

    select
        snapshot_date,
        account_id,
        product_code,
        quantity,
        market_value_local,
        cost_value_local,
        is_restricted,
        _superseded_rows,
        _source_file,
        _row_in_file,
        _batch_id

    from ranked
    where _rank = 1

)

select * from final
