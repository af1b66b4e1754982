{{ config(materialized='table') }}
-- One row per (snapshot_date, account_id, product_code) on the snapshots the as-of dates
-- use: the position valued in CNY (latest FX rate on or before the snapshot; CNY = 1; an
-- unknown product is treated as CNY and flagged) with its account's client and product classes.
with

holdings as (

    select * from {{ ref('stg_brokerage__holdings') }}

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

as_of_dates as (

    -- every as-of date, computed in this run or not: the running peak of total_assets (was
    -- the client ever funded?) needs every snapshot before the first computed date, so a
    -- nightly run values them too and gives the peak a full build gives (issue 14)
    select * from {{ ref('int_as_of_dates_spined') }}

),

used_snapshots as (

    select snapshot_date from as_of_dates
    union
    select prior_snapshot_date as snapshot_date from as_of_dates

),

positions as (

    select
        holdings.snapshot_date,
        holdings.account_id,
        accounts.client_id,
        holdings.product_code,
        holdings.quantity,
        holdings.market_value_local,
        coalesce(holdings.is_restricted, false) as is_restricted,
        products.product_code is null as is_unknown_product,
        coalesce(products.currency, '{{ var("home_currency", "CNY") }}') as currency,
        products.product_type,
        products.board,
        products.risk_rating_rank,
        coalesce(products.is_high_risk, false) as is_high_risk,
        coalesce(products.is_fixed_income, false) as is_fixed_income,
        coalesce(products.is_tech, false) as is_tech
    from holdings
    inner join used_snapshots
        on holdings.snapshot_date = used_snapshots.snapshot_date
    left join accounts
        on holdings.account_id = accounts.account_id
    left join products
        on holdings.product_code = products.product_code

),

valued as (

    select
        positions.*,
        case
            when positions.currency = '{{ var("home_currency", "CNY") }}' then 1
            else fx_rates.cny_per_unit
        end as fx_rate,
        cast(
            positions.market_value_local
            * case
                when positions.currency = '{{ var("home_currency", "CNY") }}' then 1
                else fx_rates.cny_per_unit
            end
            as {{ dbt.type_numeric() }}
        ) as market_value
    from positions
    left join fx_rates
        on
            positions.currency = fx_rates.currency
            and positions.snapshot_date >= fx_rates.valid_from_date
            and (fx_rates.valid_to_date is null or positions.snapshot_date < fx_rates.valid_to_date)

),

flagged as (

    select
        *,
        fx_rate is null as is_fx_missing
    from valued

)

select * from flagged
