-- One row per individual client per month end M whose label window (M, M + 90 days] is
-- complete (M + churn_label_window_days <= the last data date), for clients in a
-- churn-scored lifecycle stage at M (neither churned nor closed yet): the point-in-time
-- features at M (client_features_monthly), the rule-based churn score at M as a baseline,
-- and the label - the client is seen churned or closed (a stage that is not churn-scored)
-- at a month end inside (M, M + 90 days]. Read from the history marts only, so a nightly
-- run rebuilds it exactly.
with

features as (

    select * from {{ ref('client_features_monthly') }}
    where is_month_end

),

lifecycles as (

    select * from {{ ref('client_lifecycle_monthly') }}

),

lifecycle_stages as (

    select * from {{ ref('rule_lifecycle_stages') }}

),

parameters as (

    select * from {{ ref('int_rule_parameters_pivoted') }}

),

data_end as (

    select max(month_end) as last_data_date from lifecycles

),

windowed_months as (

    select
        features.*,
        cast(
            {{ dbt.dateadd('day', 'parameters.churn_label_window_days', 'features.month_end') }}
            as date
        ) as label_window_end
    from features
    cross join parameters

),

labelled_months as (

    select windowed_months.*
    from windowed_months
    cross join data_end
    where windowed_months.label_window_end <= data_end.last_data_date

),

population as (

    select
        labelled_months.*,
        lifecycles.lifecycle_stage,
        lifecycles.churn_risk_score,
        lifecycles.churn_risk_level
    from labelled_months
    inner join lifecycles
        on
            labelled_months.client_id = lifecycles.client_id
            and labelled_months.month_end = lifecycles.month_end
    inner join lifecycle_stages
        on lifecycles.lifecycle_stage = lifecycle_stages.stage_code
    where lifecycle_stages.is_churn_scored

),

label_events as (

    select
        population.client_id,
        population.month_end,
        lifecycles.month_end as observed_date,
        lifecycles.lifecycle_stage as observed_stage,
        row_number() over (
            partition by population.client_id, population.month_end
            order by lifecycles.month_end
        ) as event_order
    from population
    inner join lifecycles
        on
            population.client_id = lifecycles.client_id
            and population.month_end < lifecycles.month_end
            and population.label_window_end >= lifecycles.month_end
            and lifecycles.is_month_end
    inner join lifecycle_stages
        on lifecycles.lifecycle_stage = lifecycle_stages.stage_code
    where not lifecycle_stages.is_churn_scored

),

first_label_events as (

    select * from label_events
    where event_order = 1

),

final as (

    select
        cast(population.client_id as {{ dbt.type_string() }}) as client_id,
        cast(population.month_end as date) as month_end,
        cast(population.label_window_end as date) as label_window_end,
        cast(first_label_events.client_id is not null as boolean) as is_churned_within_window,
        cast(first_label_events.observed_date as date) as label_observed_date,
        cast(first_label_events.observed_stage as {{ dbt.type_string() }}) as label_observed_stage,
        cast(population.lifecycle_stage as {{ dbt.type_string() }}) as lifecycle_stage,
        cast(population.churn_risk_score as decimal(5, 2)) as churn_risk_score,
        cast(population.churn_risk_level as {{ dbt.type_string() }}) as churn_risk_level,
        -- features at M, with the contracted types of client_features_monthly
        population.snapshot_date,
        population.age,
        population.gender,
        population.days_since_open,
        population.needs_risk_assessment,
        population.total_assets,
        population.holdings_value,
        population.cash_balance,
        population.margin_debt,
        population.net_assets,
        population.liability_ratio,
        population.high_risk_share,
        population.fixed_income_share,
        population.tech_share,
        population.restricted_value,
        population.trades_30d,
        population.trades_90d,
        population.trades_365d,
        population.trade_amount_90d,
        population.days_since_last_trade,
        population.first_trade_date,
        population.online_trade_share,
        population.net_inflow_30d,
        population.net_inflow_90d,
        population.logins_30d,
        population.logins_90d,
        population.content_views_90d,
        population.learning_events_90d,
        population.assets_change_90d,
        population.rule_version
    from population
    left join first_label_events
        on
            population.client_id = first_label_events.client_id
            and population.month_end = first_label_events.month_end

)

select * from final
