{{ config(materialized='table') }}
-- One row per client per trade day per cancellation day (null = never cancelled) with at
-- least one trade that was filled: count, amount in CNY (latest FX rate on or before the
-- trade date; unknown product = CNY) and online trades. A trade cancelled later still
-- counted as filled at dates before its cancellation (point in time).
with

trades as (

    select * from {{ ref('stg_brokerage__trades') }}

),

accounts as (

    select * from {{ ref('stg_brokerage__accounts') }}

),

products as (

    select * from {{ ref('int_products_classified') }}

),

fx_rates as (

    select * from {{ ref('int_fx_rates_ranged') }}

),

online_channels as (

    select list_value as channel
    from {{ ref('rule_measure_lists') }}
    where list_name = 'online_trade_channel'

),

filled_trades as (

    select
        accounts.client_id,
        trades.trade_date,
        case when not trades.is_filled then cast(trades.updated_at as date) end as cancelled_date,
        trades.amount_local,
        trades.channel,
        coalesce(products.currency, '{{ var("home_currency", "CNY") }}') as currency
    from trades
    inner join accounts
        on trades.account_id = accounts.account_id
    left join products
        on trades.product_code = products.product_code
    where
        trades.trade_date is not null
        and (trades.is_filled or cast(trades.updated_at as date) > trades.trade_date)

),

valued as (

    select
        filled_trades.client_id,
        filled_trades.trade_date,
        filled_trades.cancelled_date,
        filled_trades.amount_local
        * case
            when filled_trades.currency = '{{ var("home_currency", "CNY") }}' then 1
            else fx_rates.cny_per_unit
        end as amount,
        online_channels.channel is not null as is_online
    from filled_trades
    left join fx_rates
        on
            filled_trades.currency = fx_rates.currency
            and filled_trades.trade_date >= fx_rates.valid_from_date
            and (fx_rates.valid_to_date is null or filled_trades.trade_date < fx_rates.valid_to_date)
    left join online_channels
        on filled_trades.channel = online_channels.channel

),

aggregated as (

    select
        client_id,
        trade_date,
        cancelled_date,
        count(*) as trades,
        sum(case when is_online then 1 else 0 end) as online_trades,
        sum(coalesce(amount, 0)) as trade_amount
    from valued
    group by client_id, trade_date, cancelled_date

)

select * from aggregated
