{{ config(materialized='table') }}
-- One row per client per as-of date on or after its first filled trade: filled trades in
-- the short/medium/long windows ending at the date, the churn baseline before the short
-- window, CNY amount, online share and the last trade on or before the date.
-- A window of n days ending at D covers the days D-n+1 .. D. A trade cancelled after D
-- still counts at D: nothing dated after D may change a value at D.
with

trade_days as (

    select * from {{ ref('int_client_trade_days_aggregated') }}

),

as_of_dates as (

    select as_of_date from {{ ref('int_as_of_dates_spined') }}
    where is_computed

),

parameters as (

    select * from {{ ref('int_rule_parameters_pivoted') }}

),

dated as (

    select
        trade_days.client_id,
        as_of_dates.as_of_date,
        trade_days.trade_date,
        trade_days.trades,
        trade_days.online_trades,
        trade_days.trade_amount,
        {{ days_between('trade_days.trade_date', 'as_of_dates.as_of_date') }} as days_ago,
        parameters.window_short_days,
        parameters.window_medium_days,
        parameters.window_long_days,
        parameters.churn_baseline_days
    from trade_days
    inner join as_of_dates
        on
            trade_days.trade_date <= as_of_dates.as_of_date
            and (trade_days.cancelled_date is null or trade_days.cancelled_date > as_of_dates.as_of_date)
    cross join parameters

),

windowed as (

    select
        client_id,
        as_of_date,
        sum(case when days_ago < window_short_days then trades else 0 end) as trades_30d,
        sum(case when days_ago < window_medium_days then trades else 0 end) as trades_90d,
        sum(case when days_ago < window_long_days then trades else 0 end) as trades_365d,
        sum(
            case
                when days_ago >= window_short_days and days_ago < window_short_days + churn_baseline_days
                    then trades
                else 0
            end
        ) as trades_baseline,
        sum(case when days_ago < window_medium_days then trade_amount else 0 end) as trade_amount_90d,
        sum(case when days_ago < window_long_days then online_trades else 0 end) as online_trades_365d,
        min(trade_date) as first_trade_date,
        max(trade_date) as last_trade_date
    from dated
    group by client_id, as_of_date

)

select * from windowed
