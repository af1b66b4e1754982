with

base as (

    select * from {{ ref('base_brokerage__cash_transfers') }}

),

valid as (

    select * from base
    where _reject_reason is null

),

ranked as (

    select
        *,
        -- a re-delivered transfer: the later file wins
        row_number() over (
            partition by transfer_id
            order by _source_file desc, _row_in_file desc
        ) as _rank,
        count(*) over (partition by transfer_id) - 1 as _superseded_rows

    from valid

),

final as (

    select
        transfer_id,
        account_id,
        transferred_at,
        cast(transferred_at as date) as transfer_date,
        direction,
        amount,
        _superseded_rows,
        _source_file,
        _row_in_file,
        _batch_id

    from ranked
    where _rank = 1

)

select * from final
