-- One row per campaign per frozen client per outcome horizon (var
-- campaign_outcome_horizons_days): the client's outcome over the window from the frozen
-- as-of date to the horizon. A window is complete when the warehouse's current as-of date
-- has reached as_of_date + horizon; it is then measured on the first date on or after the
-- horizon for which the warehouse keeps client state (a month end or the current as-of
-- date: the history marts' dates). Incomplete windows carry null outcomes.
with

members as (

    select * from {{ ref('stg_campaigns__members') }}

),

as_of_dates as (

    select * from {{ ref('int_as_of_dates_spined') }}

),

features as (

    select * from {{ ref('client_features_monthly') }}

),

membership_history as (

    select * from {{ ref('client_group_membership_history') }}
    where is_primary

),

lifecycle_stages as (

    select * from {{ ref('rule_lifecycle_stages') }}

),

transfers as (

    select * from {{ ref('stg_brokerage__cash_transfers') }}

),

accounts as (

    select * from {{ ref('stg_brokerage__accounts') }}

),

horizons as (

    {%- for days in var('campaign_outcome_horizons_days') %}
        select {{ days }} as horizon_days
        {% if not loop.last %}union all{% endif %}
    {%- endfor %}

),

current_date_row as (

    select as_of_date as current_as_of_date from as_of_dates
    where is_current

),

windows as (

    select
        members.campaign_name,
        members.client_id,
        members.arm,
        members.as_of_date,
        members.baseline_total_assets,
        members.baseline_lifecycle_stage,
        horizons.horizon_days,
        cast({{ dbt.dateadd('day', 'horizons.horizon_days', 'members.as_of_date') }} as date) as horizon_date,
        current_date_row.current_as_of_date
    from members
    cross join horizons
    cross join current_date_row

),

measured_dates as (

    select
        windows.campaign_name,
        windows.client_id,
        windows.horizon_days,
        min(as_of_dates.as_of_date) as measured_at_date
    from windows
    inner join as_of_dates
        on windows.horizon_date <= as_of_dates.as_of_date
    where windows.current_as_of_date >= windows.horizon_date
    group by windows.campaign_name, windows.client_id, windows.horizon_days

),

window_transfers as (

    select
        measured_dates.campaign_name,
        measured_dates.client_id,
        measured_dates.horizon_days,
        sum(
            case
                when transfers.direction = 'in' then transfers.amount
                when transfers.direction = 'out' then -1 * transfers.amount
                else 0
            end
        ) as net_inflow
    from measured_dates
    inner join windows
        on
            measured_dates.campaign_name = windows.campaign_name
            and measured_dates.client_id = windows.client_id
            and measured_dates.horizon_days = windows.horizon_days
    inner join accounts
        on measured_dates.client_id = accounts.client_id
    inner join transfers
        on
            accounts.account_id = transfers.account_id
            and windows.as_of_date < transfers.transfer_date
            and measured_dates.measured_at_date >= transfers.transfer_date
    group by measured_dates.campaign_name, measured_dates.client_id, measured_dates.horizon_days

),

measured as (

    select
        windows.campaign_name,
        windows.client_id,
        windows.arm,
        windows.horizon_days,
        windows.horizon_date,
        measured_dates.measured_at_date is not null as is_window_complete,
        measured_dates.measured_at_date,
        windows.baseline_lifecycle_stage = 'zombie' as was_zombie,
        coalesce(baseline_stage.is_churn_scored, false) as could_churn,
        case
            when measured_dates.measured_at_date is not null
                then features.first_trade_date is not null
        end as has_traded,
        case
            when measured_dates.measured_at_date is not null
                then not coalesce(measured_stage.is_churn_scored, true)
        end as has_churned,
        case
            when measured_dates.measured_at_date is not null
                then coalesce(window_transfers.net_inflow, 0)
        end as net_inflow,
        features.total_assets - windows.baseline_total_assets as assets_change
    from windows
    left join measured_dates
        on
            windows.campaign_name = measured_dates.campaign_name
            and windows.client_id = measured_dates.client_id
            and windows.horizon_days = measured_dates.horizon_days
    left join features
        on
            windows.client_id = features.client_id
            and measured_dates.measured_at_date = features.month_end
    left join membership_history
        on
            windows.client_id = membership_history.client_id
            and measured_dates.measured_at_date = membership_history.month_end
    left join lifecycle_stages as baseline_stage
        on windows.baseline_lifecycle_stage = baseline_stage.stage_code
    left join lifecycle_stages as measured_stage
        on membership_history.lifecycle_stage = measured_stage.stage_code
    left join window_transfers
        on
            windows.campaign_name = window_transfers.campaign_name
            and windows.client_id = window_transfers.client_id
            and windows.horizon_days = window_transfers.horizon_days

)

select * from measured
