{{ config(materialized='table') }}
-- One row per client per snapshot date used by an as-of date: CNY holdings and cash over
-- the client's accounts not closed at that snapshot, with the value in each measure class.
with

holdings as (

    select * from {{ ref('int_holdings_valued') }}

),

balances as (

    select * from {{ ref('stg_brokerage__balances') }}

),

accounts as (

    select * from {{ ref('stg_brokerage__accounts') }}

),

closed_statuses as (

    select list_value as account_status
    from {{ ref('rule_measure_lists') }}
    where list_name = 'closed_status'

),

as_of_dates as (

    -- every as-of date, computed in this run or not: the running peak of total_assets (was
    -- the client ever funded?) needs every snapshot before the first computed date, so a
    -- nightly run values them too and gives the peak a full build gives (issue 14)
    select * from {{ ref('int_as_of_dates_spined') }}

),

snapshots as (

    -- every snapshot an as-of date uses (holdings or balances may lack rows on it)
    select snapshot_date from as_of_dates
    where snapshot_date is not null
    union
    select prior_snapshot_date as snapshot_date from as_of_dates
    where prior_snapshot_date is not null

),

open_accounts as (

    -- accounts not closed at each snapshot
    select
        snapshots.snapshot_date,
        accounts.account_id,
        accounts.client_id
    from accounts
    cross join snapshots
    left join closed_statuses
        on accounts.status = closed_statuses.account_status
    where
        accounts.client_id is not null
        and not (
            closed_statuses.account_status is not null
            and coalesce(accounts.close_date, cast(accounts.updated_at as date)) <= snapshots.snapshot_date
        )

),

position_values as (

    select
        holdings.snapshot_date,
        open_accounts.client_id,
        sum(coalesce(holdings.market_value, 0)) as holdings_value,
        sum(case when holdings.is_high_risk then coalesce(holdings.market_value, 0) else 0 end) as high_risk_value,
        sum(case when holdings.is_fixed_income then coalesce(holdings.market_value, 0) else 0 end)
            as fixed_income_value,
        sum(case when holdings.is_tech then coalesce(holdings.market_value, 0) else 0 end) as tech_value,
        sum(case when holdings.is_restricted then coalesce(holdings.market_value, 0) else 0 end)
            as restricted_value,
        sum(case when holdings.is_unknown_product then 1 else 0 end) as unknown_product_positions,
        sum(case when holdings.is_fx_missing then 1 else 0 end) as fx_missing_positions
    from holdings
    inner join open_accounts
        on
            holdings.snapshot_date = open_accounts.snapshot_date
            and holdings.account_id = open_accounts.account_id
    group by holdings.snapshot_date, open_accounts.client_id

),

cash_values as (

    select
        balances.snapshot_date,
        open_accounts.client_id,
        sum(coalesce(balances.cash_balance, 0)) as cash_balance,
        sum(coalesce(balances.margin_debt, 0)) as margin_debt
    from balances
    inner join open_accounts
        on
            balances.snapshot_date = open_accounts.snapshot_date
            and balances.account_id = open_accounts.account_id
    group by balances.snapshot_date, open_accounts.client_id

),

combined as (

    select
        coalesce(position_values.snapshot_date, cash_values.snapshot_date) as snapshot_date,
        coalesce(position_values.client_id, cash_values.client_id) as client_id,
        coalesce(position_values.holdings_value, 0) as holdings_value,
        coalesce(cash_values.cash_balance, 0) as cash_balance,
        coalesce(cash_values.margin_debt, 0) as margin_debt,
        coalesce(position_values.high_risk_value, 0) as high_risk_value,
        coalesce(position_values.fixed_income_value, 0) as fixed_income_value,
        coalesce(position_values.tech_value, 0) as tech_value,
        coalesce(position_values.restricted_value, 0) as restricted_value,
        coalesce(position_values.unknown_product_positions, 0) as unknown_product_positions,
        coalesce(position_values.fx_missing_positions, 0) as fx_missing_positions
    from position_values
    full outer join cash_values
        on
            position_values.snapshot_date = cash_values.snapshot_date
            and position_values.client_id = cash_values.client_id

),

totalled as (

    select
        *,
        holdings_value + cash_balance as total_assets
    from combined

),

with_peak as (

    select
        *,
        max(total_assets) over (
            partition by client_id order by snapshot_date rows between unbounded preceding and current row
        ) as peak_total_assets,
        -- the client's next snapshot row: until then this row's peak is the peak to date,
        -- also on snapshots where the client has no row (every account drained or closed)
        lead(snapshot_date) over (partition by client_id order by snapshot_date) as next_snapshot_date
    from totalled

)

select * from with_peak
