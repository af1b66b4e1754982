with

base as (

    select * from {{ ref('base_brokerage__trades') }}

),

valid as (

    select * from base
    where _reject_reason is null

),

cancellations as (

    -- a cancellation takes effect even when its row is rejected for another value (it
    -- stays in the rejects too): a cancelled trade must never count as filled
    select distinct trade_id
    from base
    where status = 'cancelled' and trade_id is not null

),

ranked as (

    select
        *,
        -- latest version wins; ties (and re-deliveries) go to the later file
        row_number() over (
            partition by trade_id
            order by updated_at desc nulls last, _source_file desc, _row_in_file desc
        ) as _rank,
        count(*) over (partition by trade_id) - 1 as _superseded_rows,
        -- a cancelled version cancels the trade, whatever version comes after it
        trade_id in (select cancellations.trade_id from cancellations) as has_cancelled_version

    from valid

),

final as (

    select
        trade_id,
        account_id,
        product_code,
        traded_at,
        cast(traded_at as date) as trade_date,
        side,
        quantity,
        price,
        amount_local,
        fee_local,
        channel,
        case when has_cancelled_version then 'cancelled' else status end as status,
        not has_cancelled_version and status = 'filled' as is_filled,
        updated_at,
        _superseded_rows,
        _source_file,
        _row_in_file,
        _batch_id

    from ranked
    where _rank = 1

)

select * from final
