{{ config(materialized='table') }}
-- One row per client per as-of date with app activity in the look-back (the longest
-- engagement window): logins, content views (live stream, short video, news) and learning
-- events (courses, simulated trading) in windows ending at the date, and the last login.
with

app_events as (

    select * from {{ ref('stg_brokerage__app_events') }}

),

measure_lists as (

    select * from {{ ref('rule_measure_lists') }}

),

as_of_dates as (

    select as_of_date from {{ ref('int_as_of_dates_spined') }}
    where is_computed

),

parameters as (

    select * from {{ ref('int_rule_parameters_pivoted') }}

),

event_days as (

    select
        app_events.client_id,
        app_events.event_date,
        sum(case when measure_lists.list_name = 'login_event' then app_events.event_count else 0 end) as logins,
        sum(case when measure_lists.list_name = 'content_view_event' then app_events.event_count else 0 end)
            as content_views,
        sum(case when measure_lists.list_name = 'learning_event' then app_events.event_count else 0 end)
            as learning_events
    from app_events
    inner join measure_lists
        on
            app_events.event_type = measure_lists.list_value
            and measure_lists.list_name in ('login_event', 'content_view_event', 'learning_event')
    where
        app_events.client_id is not null
        and app_events.event_date is not null
    group by app_events.client_id, app_events.event_date

),

dated as (

    select
        event_days.*,
        as_of_dates.as_of_date,
        {{ days_between('event_days.event_date', 'as_of_dates.as_of_date') }} as days_ago,
        parameters.window_short_days,
        parameters.window_medium_days,
        parameters.churn_baseline_days,
        parameters.lifecycle_dormant_min_days_inactive
    from event_days
    cross join parameters
    inner join as_of_dates
        on
            event_days.event_date <= as_of_dates.as_of_date
            and event_days.event_date > {{ dbt.dateadd(
            'day',
            '-1 * greatest(parameters.window_medium_days, parameters.window_short_days + parameters.churn_baseline_days, parameters.lifecycle_dormant_min_days_inactive)',
            'as_of_dates.as_of_date'
        ) }}

),

windowed as (

    select
        client_id,
        as_of_date,
        sum(case when days_ago < window_short_days then logins else 0 end) as logins_30d,
        sum(case when days_ago < window_medium_days then logins else 0 end) as logins_90d,
        sum(
            case
                when days_ago >= window_short_days and days_ago < window_short_days + churn_baseline_days
                    then logins
                else 0
            end
        ) as logins_baseline,
        sum(case when days_ago < window_medium_days then content_views else 0 end) as content_views_90d,
        sum(case when days_ago < window_medium_days then learning_events else 0 end) as learning_events_90d,
        max(case when logins > 0 then event_date end) as last_login_date
    from dated
    group by client_id, as_of_date

)

select * from windowed
