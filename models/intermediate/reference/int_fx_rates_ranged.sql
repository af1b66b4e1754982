-- One row per (currency, rate_date): the rate and the day it stops applying (the next
-- rate_date; null for the latest), so "latest rate on or before a day" is a range join.
with

fx_rates as (

    select * from {{ ref('stg_brokerage__fx_rates') }}

),

ranged as (

    select
        currency,
        rate_date as valid_from_date,
        lead(rate_date) over (partition by currency order by rate_date) as valid_to_date,
        cny_per_unit
    from fx_rates
    where cny_per_unit is not null

)

select * from ranged
