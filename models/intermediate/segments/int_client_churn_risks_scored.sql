{{ config(materialized='table') }}

-- One row per individual client per as-of date whose lifecycle stage is churn-scored
-- (not closed/churned): the churn early-warning score 0-100 (sum of the weights of the
-- signals that fire, capped at 100), its level and the reasons with their values.
{%- set text = dbt.type_string() %}

with

measures as (

    select * from {{ ref('int_client_measures_joined') }}

),

dimensions as (

    select * from {{ ref('int_client_dimensions_assigned') }}

),

lifecycle_stages as (

    select * from {{ ref('rule_lifecycle_stages') }}

),

parameters as (

    select * from {{ ref('int_rule_parameters_pivoted') }}

),

signals as (

    select * from {{ ref('rule_churn_signals') }}

),

levels as (

    select * from {{ ref('rule_churn_levels') }}

),

scored_clients as (

    select
        measures.*,
        {{ kequn.float_ratio('parameters.churn_baseline_days', 'parameters.churn_baseline_month_days') }}
            as baseline_months
    from measures
    inner join dimensions
        on
            measures.client_id = dimensions.client_id
            and measures.as_of_date = dimensions.as_of_date
    inner join lifecycle_stages
        on dimensions.lifecycle_stage = lifecycle_stages.stage_code
    cross join parameters
    where lifecycle_stages.is_churn_scored

),

fired as (

    select
        scored_clients.client_id,
        scored_clients.as_of_date,
        signals.signal_code,
        signals.weight,
        case signals.signal_code
            when 'assets_fell'
                then
                    'assets_change_90d=' || cast(cast(scored_clients.assets_change_90d as decimal(18, 2)) as {{ text }})
            when 'net_outflow'
                then
                    'net_inflow_90d=' || cast(cast(scored_clients.net_inflow_90d as decimal(18, 2)) as {{ text }})
                    || ' vs total_assets_90d_ago='
                    || cast(cast(scored_clients.prior_total_assets as decimal(18, 2)) as {{ text }})
            when 'trading_fell'
                then
                    'trades_30d=' || cast(scored_clients.trades_30d as {{ text }})
                    || ' vs trades_prior_90d=' || cast(scored_clients.trades_baseline as {{ text }})
            when 'logins_fell'
                then
                    'logins_30d=' || cast(scored_clients.logins_30d as {{ text }})
                    || ' vs logins_prior_90d=' || cast(scored_clients.logins_baseline as {{ text }})
            when 'no_recent_trade'
                then 'days_since_last_trade=' || cast(scored_clients.days_since_last_trade as {{ text }})
        end as signal_value
    from scored_clients
    inner join signals
        on (
            signals.signal_code = 'assets_fell'
            and scored_clients.assets_change_90d < signals.threshold
        )
        or (
            signals.signal_code = 'net_outflow'
            and scored_clients.prior_total_assets > 0
            and -1 * scored_clients.net_inflow_90d > signals.threshold * scored_clients.prior_total_assets
        )
        or (
            signals.signal_code = 'trading_fell'
            and scored_clients.trades_baseline > 0
            and scored_clients.trades_30d
            < signals.threshold * scored_clients.trades_baseline / scored_clients.baseline_months
        )
        or (
            signals.signal_code = 'logins_fell'
            and scored_clients.logins_baseline > 0
            and scored_clients.logins_30d
            < signals.threshold * scored_clients.logins_baseline / scored_clients.baseline_months
        )
        or (
            signals.signal_code = 'no_recent_trade'
            and scored_clients.first_trade_date is not null
            and scored_clients.days_since_last_trade >= signals.threshold
        )

),

summed as (

    select
        scored_clients.client_id,
        scored_clients.as_of_date,
        cast(
            case
                when coalesce(sum(fired.weight), 0) > 100 then 100
                else coalesce(sum(fired.weight), 0)
            end
            as decimal(5, 2)
        ) as churn_risk_score,
        {{ dbt.listagg(
            "fired.signal_code || '(' || fired.signal_value || ')'",
            "'; '",
            'order by fired.weight desc, fired.signal_code'
        ) }} as churn_reasons
    from scored_clients
    left join fired
        on
            scored_clients.client_id = fired.client_id
            and scored_clients.as_of_date = fired.as_of_date
    group by scored_clients.client_id, scored_clients.as_of_date

),

levelled as (

    select
        summed.client_id,
        summed.as_of_date,
        summed.churn_risk_score,
        coalesce(summed.churn_reasons, '') as churn_reasons,
        levels.level_code as churn_risk_level,
        levels.is_at_risk as is_churn_risk,
        row_number() over (
            partition by summed.client_id, summed.as_of_date
            order by levels.min_score desc
        ) as level_rank
    from summed
    inner join levels
        on summed.churn_risk_score >= levels.min_score

)

select
    client_id,
    as_of_date,
    churn_risk_score,
    churn_risk_level,
    is_churn_risk,
    churn_reasons
from levelled
where level_rank = 1
