with

base as (

    select * from {{ ref('base_brokerage__balances') }}

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
            partition by snapshot_date, account_id
            order by _source_file desc, _row_in_file desc
        ) as _rank,
        count(*) over (partition by snapshot_date, account_id) - 1 as _superseded_rows

    from valid

),

final as (

    select
        snapshot_date,
        account_id,
        cash_balance,
        margin_debt,
        _superseded_rows,
        _source_file,
        _row_in_file,
        _batch_id

    from ranked
    where _rank = 1

)

select * from final
