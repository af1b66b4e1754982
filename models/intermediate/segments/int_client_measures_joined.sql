{{ config(materialized='table') }}
-- One row per individual client per as-of date (month ends and the current as-of date)
-- at which the client is known: profile, assets on the date's snapshot, activity windows
-- and the other core measures of the spec, each computed only from data up to that date.
with

as_of_dates as (

    select * from {{ ref('int_as_of_dates_spined') }}
    where is_computed

),

profiles as (

    select * from {{ ref('int_client_profiles_resolved') }}

),

accounts as (

    select * from {{ ref('int_client_accounts_aggregated') }}

),

assets as (

    select * from {{ ref('int_client_assets_snapshotted') }}

),

peaks as (

    -- the peak of total_assets up to each as-of date's snapshot: from the client's latest
    -- snapshot row on or before it (a drained client has no row on the snapshot itself,
    -- yet was funded before: the lifecycle's churned needs that)
    select
        assets.client_id,
        as_of_dates.as_of_date,
        assets.peak_total_assets
    from assets
    inner join as_of_dates
        on
            assets.snapshot_date <= as_of_dates.snapshot_date
            and (assets.next_snapshot_date is null or assets.next_snapshot_date > as_of_dates.snapshot_date)

),

trades as (

    select * from {{ ref('int_client_trades_windowed') }}

),

transfers as (

    select * from {{ ref('int_client_transfers_windowed') }}

),

engagement as (

    select * from {{ ref('int_client_engagement_windowed') }}

),

joined as (

    select
        profiles.*,
        as_of_dates.is_month_end,
        as_of_dates.is_current,
        as_of_dates.snapshot_date,
        as_of_dates.prior_snapshot_date,
        coalesce(accounts.account_count, 0) as account_count,
        coalesce(accounts.closed_account_count, 0) as closed_account_count,
        coalesce(assets.holdings_value, 0) as holdings_value,
        coalesce(assets.cash_balance, 0) as cash_balance,
        coalesce(assets.margin_debt, 0) as margin_debt,
        coalesce(assets.total_assets, 0) as total_assets,
        coalesce(assets.high_risk_value, 0) as high_risk_value,
        coalesce(assets.fixed_income_value, 0) as fixed_income_value,
        coalesce(assets.tech_value, 0) as tech_value,
        coalesce(assets.restricted_value, 0) as restricted_value,
        coalesce(assets.unknown_product_positions, 0) as unknown_product_positions,
        coalesce(peaks.peak_total_assets, 0) as peak_total_assets,
        coalesce(prior_assets.total_assets, 0) as prior_total_assets,
        coalesce(trades.trades_30d, 0) as trades_30d,
        coalesce(trades.trades_90d, 0) as trades_90d,
        coalesce(trades.trades_365d, 0) as trades_365d,
        coalesce(trades.trades_baseline, 0) as trades_baseline,
        coalesce(trades.trade_amount_90d, 0) as trade_amount_90d,
        coalesce(trades.online_trades_365d, 0) as online_trades_365d,
        trades.first_trade_date,
        trades.last_trade_date,
        coalesce(transfers.net_inflow_30d, 0) as net_inflow_30d,
        coalesce(transfers.net_inflow_90d, 0) as net_inflow_90d,
        coalesce(transfers.transfers_in_to_date, 0) as transfers_in_to_date,
        coalesce(engagement.logins_30d, 0) as logins_30d,
        coalesce(engagement.logins_90d, 0) as logins_90d,
        coalesce(engagement.logins_baseline, 0) as logins_baseline,
        coalesce(engagement.content_views_90d, 0) as content_views_90d,
        coalesce(engagement.learning_events_90d, 0) as learning_events_90d,
        engagement.last_login_date
    from profiles
    inner join as_of_dates
        on profiles.as_of_date = as_of_dates.as_of_date
    left join accounts
        on
            profiles.client_id = accounts.client_id
            and profiles.as_of_date = accounts.as_of_date
    left join assets
        on
            profiles.client_id = assets.client_id
            and as_of_dates.snapshot_date = assets.snapshot_date
    left join peaks
        on
            profiles.client_id = peaks.client_id
            and profiles.as_of_date = peaks.as_of_date
    left join assets as prior_assets
        on
            profiles.client_id = prior_assets.client_id
            and as_of_dates.prior_snapshot_date = prior_assets.snapshot_date
    left join trades
        on
            profiles.client_id = trades.client_id
            and profiles.as_of_date = trades.as_of_date
    left join transfers
        on
            profiles.client_id = transfers.client_id
            and profiles.as_of_date = transfers.as_of_date
    left join engagement
        on
            profiles.client_id = engagement.client_id
            and profiles.as_of_date = engagement.as_of_date
    where profiles.client_type = 'individual'

),

derived as (

    select
        *,
        total_assets - margin_debt as net_assets,
        case when total_assets > 0 then margin_debt / total_assets end as liability_ratio,
        case when holdings_value > 0 then high_risk_value / holdings_value end as high_risk_share,
        case when holdings_value > 0 then fixed_income_value / holdings_value end as fixed_income_share,
        case when holdings_value > 0 then tech_value / holdings_value end as tech_share,
        case when trades_365d > 0 then {{ kequn.float_ratio('online_trades_365d', 'trades_365d') }} end
            as online_trade_share,
        case when prior_total_assets > 0 then total_assets / prior_total_assets end as assets_change_90d,
        {{ days_between('last_trade_date', 'as_of_date') }} as days_since_last_trade,
        {{ days_between('last_login_date', 'as_of_date') }} as days_since_last_login,
        (account_count > 0 and closed_account_count = account_count) as is_every_account_closed
    from joined

)

select * from derived
