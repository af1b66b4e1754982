-- One row per (snapshot_date, client, board) where the client holds restricted shares
-- (equity incentive, lock-up) on an account not closed at the snapshot.
with

holdings as (

    select * from {{ ref('int_holdings_valued') }}

),

accounts as (

    select * from {{ ref('stg_brokerage__accounts') }}

),

closed_statuses as (

    select list_value as account_status
    from {{ ref('rule_measure_lists') }}
    where list_name = 'closed_status'

),

aggregated as (

    select
        holdings.snapshot_date,
        holdings.client_id,
        holdings.board,
        sum(coalesce(holdings.market_value, 0)) as restricted_value
    from holdings
    inner join accounts
        on holdings.account_id = accounts.account_id
    left join closed_statuses
        on accounts.status = closed_statuses.account_status
    where
        holdings.is_restricted
        and holdings.board is not null
        and not (
            closed_statuses.account_status is not null
            and coalesce(accounts.close_date, cast(accounts.updated_at as date)) <= holdings.snapshot_date
        )
    group by holdings.snapshot_date, holdings.client_id, holdings.board

)

select * from aggregated
