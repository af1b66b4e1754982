-- One row per client per as-of date on or after its first transfer: net bank-brokerage
-- inflow (in - out, CNY) over the short and medium windows ending at the date, and all
-- transfers in up to the date (tells whether the client was ever funded).
with

transfers as (

    select * from {{ ref('stg_brokerage__cash_transfers') }}

),

accounts as (

    select * from {{ ref('stg_brokerage__accounts') }}

),

as_of_dates as (

    select as_of_date from {{ ref('int_as_of_dates_spined') }}
    where is_computed

),

parameters as (

    select * from {{ ref('int_rule_parameters_pivoted') }}

),

transfer_days as (

    select
        accounts.client_id,
        transfers.transfer_date,
        sum(case when transfers.direction = 'in' then transfers.amount else 0 end) as amount_in,
        sum(case when transfers.direction = 'out' then transfers.amount else 0 end) as amount_out
    from transfers
    inner join accounts
        on transfers.account_id = accounts.account_id
    where transfers.transfer_date is not null
    group by accounts.client_id, transfers.transfer_date

),

dated as (

    select
        transfer_days.client_id,
        as_of_dates.as_of_date,
        transfer_days.amount_in,
        transfer_days.amount_in - transfer_days.amount_out as net_amount,
        {{ days_between('transfer_days.transfer_date', 'as_of_dates.as_of_date') }} as days_ago,
        parameters.window_short_days,
        parameters.window_medium_days
    from transfer_days
    inner join as_of_dates
        on transfer_days.transfer_date <= as_of_dates.as_of_date
    cross join parameters

),

windowed as (

    select
        client_id,
        as_of_date,
        sum(case when days_ago < window_short_days then net_amount else 0 end) as net_inflow_30d,
        sum(case when days_ago < window_medium_days then net_amount else 0 end) as net_inflow_90d,
        sum(amount_in) as transfers_in_to_date
    from dated
    group by client_id, as_of_date

)

select * from windowed
