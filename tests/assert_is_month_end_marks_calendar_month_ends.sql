-- The history marts flag their rows: is_month_end is true exactly on calendar month ends,
-- and the only row date that is not a month end is the current as-of date (the greatest
-- date of each mart). Returns the offending (mart, date) pairs.
with

features as (

    select distinct
        'client_features_monthly' as mart_name,
        month_end,
        is_month_end
    from {{ ref('client_features_monthly') }}

),

summary as (

    select distinct
        'group_monthly_summary' as mart_name,
        month_end,
        is_month_end
    from {{ ref('group_monthly_summary') }}

),

membership_history as (

    select distinct
        'client_group_membership_history' as mart_name,
        month_end,
        is_month_end
    from {{ ref('client_group_membership_history') }}

),

row_dates as (

    select * from features
    union all
    select * from summary
    union all
    select * from membership_history

),

latest as (

    select
        mart_name,
        max(month_end) as latest_date
    from row_dates
    group by mart_name

)

select
    row_dates.mart_name,
    row_dates.month_end,
    row_dates.is_month_end
from row_dates
inner join latest
    on row_dates.mart_name = latest.mart_name
where
    row_dates.is_month_end is null
    or row_dates.is_month_end
    <> (row_dates.month_end = cast({{ dbt.last_day('row_dates.month_end', 'month') }} as date))
    or (not row_dates.is_month_end and row_dates.month_end <> latest.latest_date)
