-- One row per campaign per outcome horizon per metric (campaign x horizon_days x metric):
-- the treatment and control arms' value over the window, the uplift (treatment - control)
-- and its normal-approximation confidence interval (formula in _campaigns__docs.md).
-- Null values while the window is incomplete.
{%- set metrics = [
    {'code': 'zombie_conversion', 'name_zh': '僵尸户激活率', 'kind': 'proportion', 'unit': 'share',
     'value': 'cast(has_traded as integer)', 'population': 'was_zombie'},
    {'code': 'churned', 'name_zh': '流失率', 'kind': 'proportion', 'unit': 'share',
     'value': 'cast(has_churned as integer)', 'population': 'could_churn'},
    {'code': 'net_inflow', 'name_zh': '净流入', 'kind': 'mean', 'unit': 'CNY',
     'value': 'net_inflow', 'population': 'true'},
    {'code': 'assets_change', 'name_zh': '资产变化', 'kind': 'mean', 'unit': 'CNY',
     'value': 'assets_change', 'population': 'true'},
] %}
{%- set float = kequn.type_double() %}

with

outcomes as (

    select * from {{ ref('int_campaign_member_outcomes_measured') }}

),

members as (

    select * from {{ ref('stg_campaigns__members') }}

),

rule_versions as (

    select rule_version from {{ ref('int_rule_versions_hashed') }}

),

campaigns as (

    select
        campaign_name,
        max(group_code) as group_code,
        max(as_of_date) as as_of_date
    from members
    group by campaign_name

),

metric_values as (

    {%- for metric in metrics %}
        select
            campaign_name,
            horizon_days,
            horizon_date,
            is_window_complete,
            measured_at_date,
            arm,
            '{{ metric.code }}' as metric,
            '{{ metric.name_zh }}' as metric_name_zh,
            '{{ metric.kind }}' as metric_kind,
            '{{ metric.unit }}' as unit,
            cast({{ metric.value }} as {{ float }}) as metric_value
        from outcomes
        where {{ metric.population }}
        {% if not loop.last %}union all{% endif %}
    {%- endfor %}

),

arms as (

    select
        campaign_name,
        horizon_days,
        metric,
        max(metric_name_zh) as metric_name_zh,
        max(metric_kind) as metric_kind,
        max(unit) as unit,
        max(horizon_date) as horizon_date,
        max(measured_at_date) as measured_at_date,
        max(case when is_window_complete then 1 else 0 end) = 1 as is_window_complete,
        count(case when arm = 'treatment' then 1 end) as treatment_clients,
        count(case when arm = 'control' then 1 end) as control_clients,
        avg(case when arm = 'treatment' then metric_value end) as treatment_value,
        avg(case when arm = 'control' then metric_value end) as control_value,
        var_samp(case when arm = 'treatment' then metric_value end) as treatment_variance,
        var_samp(case when arm = 'control' then metric_value end) as control_variance,
        count(case when arm = 'treatment' then metric_value end) as treatment_measured,
        count(case when arm = 'control' then metric_value end) as control_measured
    from metric_values
    group by campaign_name, horizon_days, metric

),

uplifts as (

    select
        *,
        treatment_value - control_value as uplift,
        case
            when metric_kind = 'proportion' and treatment_measured > 0 and control_measured > 0
                then sqrt(
                    treatment_value * (1 - treatment_value) / treatment_measured
                    + control_value * (1 - control_value) / control_measured
                )
            when metric_kind = 'mean' and treatment_measured > 1 and control_measured > 1
                then sqrt(treatment_variance / treatment_measured + control_variance / control_measured)
        end as uplift_std_error
    from arms

),

final as (

    select
        cast(uplifts.campaign_name as {{ dbt.type_string() }}) as campaign_name,
        cast(uplifts.horizon_days as integer) as horizon_days,
        cast(uplifts.metric as {{ dbt.type_string() }}) as metric,
        cast(uplifts.metric_name_zh as {{ dbt.type_string() }}) as metric_name_zh,
        cast(uplifts.metric_kind as {{ dbt.type_string() }}) as metric_kind,
        cast(uplifts.unit as {{ dbt.type_string() }}) as unit,
        cast(campaigns.group_code as {{ dbt.type_string() }}) as group_code,
        cast(campaigns.as_of_date as date) as as_of_date,
        cast(uplifts.horizon_date as date) as horizon_date,
        cast(uplifts.is_window_complete as boolean) as is_window_complete,
        cast(uplifts.measured_at_date as date) as measured_at_date,
        cast(uplifts.treatment_clients as integer) as treatment_clients,
        cast(uplifts.control_clients as integer) as control_clients,
        cast(uplifts.treatment_value as {{ float }}) as treatment_value,
        cast(uplifts.control_value as {{ float }}) as control_value,
        cast(uplifts.uplift as {{ float }}) as uplift,
        cast(uplifts.uplift_std_error as {{ float }}) as uplift_std_error,
        cast(uplifts.uplift - {{ var('campaign_uplift_z') }} * uplifts.uplift_std_error as {{ float }})
            as uplift_ci_low,
        cast(uplifts.uplift + {{ var('campaign_uplift_z') }} * uplifts.uplift_std_error as {{ float }})
            as uplift_ci_high,
        cast({{ var('campaign_uplift_confidence') }} as {{ float }}) as confidence_level,
        cast(rule_versions.rule_version as {{ dbt.type_string() }}) as rule_version
    from uplifts
    inner join campaigns
        on uplifts.campaign_name = campaigns.campaign_name
    cross join rule_versions

)

select * from final
