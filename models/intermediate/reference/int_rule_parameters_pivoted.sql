-- One row: every scalar rule parameter of seeds/rules/rule_parameters.csv as a column.
with

parameters as (

    select * from {{ ref('rule_parameters') }}

),

pivoted as (

    select
        {%- for name in [
            'window_short_days',
            'window_medium_days',
            'window_long_days',
            'assets_change_lookback_days',
            'risk_assessment_max_age_days',
            'high_risk_min_rank',
            'fixed_income_wealth_max_rank',
            'lifecycle_churned_max_assets',
            'lifecycle_churned_min_days_without_trade',
            'lifecycle_funded_min_assets',
            'lifecycle_zombie_min_days_since_open',
            'lifecycle_zombie_max_assets',
            'lifecycle_new_max_days_since_open',
            'lifecycle_dormant_min_days_inactive',
            'churn_baseline_days',
            'churn_baseline_month_days',
            'recommendations_per_client',
            'outreach_top_products',
            'churn_label_window_days',
        ] %}
            max(case when parameter_name = '{{ name }}' then parameter_value end) as {{ name }}
            {%- if not loop.last %},{% endif %}
        {%- endfor %}

    from parameters

)

select * from pivoted
