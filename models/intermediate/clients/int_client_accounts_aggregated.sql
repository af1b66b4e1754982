-- One row per client per as-of date with at least one account opened by then: how many
-- accounts it has and how many are closed at that date (a closed account without a
-- close_date counts as closed from its last update).
with

accounts as (

    select * from {{ ref('stg_brokerage__accounts') }}

),

as_of_dates as (

    select as_of_date from {{ ref('int_as_of_dates_spined') }}
    where is_computed

),

closed_statuses as (

    select list_value as account_status
    from {{ ref('rule_measure_lists') }}
    where list_name = 'closed_status'

),

accounts_dated as (

    select
        accounts.client_id,
        as_of_dates.as_of_date,
        accounts.account_id,
        (
            closed_statuses.account_status is not null
            and coalesce(accounts.close_date, cast(accounts.updated_at as date)) <= as_of_dates.as_of_date
        ) as is_closed
    from accounts
    inner join as_of_dates
        on
            accounts.open_date is null
            or accounts.open_date <= as_of_dates.as_of_date
    left join closed_statuses
        on accounts.status = closed_statuses.account_status
    where accounts.client_id is not null

),

aggregated as (

    select
        client_id,
        as_of_date,
        count(*) as account_count,
        sum(case when is_closed then 1 else 0 end) as closed_account_count
    from accounts_dated
    group by client_id, as_of_date

)

select * from aggregated
