-- Reconciliation: for every client in client_segments, total_assets equals the sum of its
-- position values (CNY) plus its cash over accounts not closed on the as-of snapshot,
-- recomputed here from the valued positions and staged balances. Returns mismatches.
with

as_of as (

    select
        as_of_date,
        snapshot_date
    from {{ ref('int_as_of_dates_spined') }}
    where is_current

),

accounts as (

    select
        account_id,
        client_id,
        status,
        coalesce(close_date, cast(updated_at as date)) as closed_on
    from {{ ref('stg_brokerage__accounts') }}

),

closed_statuses as (

    select list_value as account_status
    from {{ ref('rule_measure_lists') }}
    where list_name = 'closed_status'

),

open_accounts as (

    select
        accounts.account_id,
        accounts.client_id
    from accounts
    cross join as_of
    where not (
        accounts.status in (select closed_statuses.account_status from closed_statuses)
        and accounts.closed_on <= as_of.snapshot_date
    )

),

positions as (

    select
        open_accounts.client_id,
        sum(coalesce(holdings.market_value, 0)) as position_value
    from {{ ref('int_holdings_valued') }} as holdings
    inner join as_of on holdings.snapshot_date = as_of.snapshot_date
    inner join open_accounts on holdings.account_id = open_accounts.account_id
    group by open_accounts.client_id

),

cash as (

    select
        open_accounts.client_id,
        sum(coalesce(balances.cash_balance, 0)) as cash_value
    from {{ ref('stg_brokerage__balances') }} as balances
    inner join as_of on balances.snapshot_date = as_of.snapshot_date
    inner join open_accounts on balances.account_id = open_accounts.account_id
    group by open_accounts.client_id

),

segments as (

    select
        client_id,
        total_assets
    from {{ ref('client_segments') }}

)

select
    segments.client_id,
    segments.total_assets,
    coalesce(positions.position_value, 0) as position_value,
    coalesce(cash.cash_value, 0) as cash_value
from segments
left join positions on segments.client_id = positions.client_id
left join cash on segments.client_id = cash.client_id
where abs(segments.total_assets - (coalesce(positions.position_value, 0) + coalesce(cash.cash_value, 0))) > 0.01
