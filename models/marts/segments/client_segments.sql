-- One row per individual client known at the as-of date: traditional dimensions, special
-- groups, churn early warning, service channel and risk-assessment flag.
with

as_of_dates as (

    select as_of_date from {{ ref('int_as_of_dates_spined') }}
    where is_current

),

measures as (

    select * from {{ ref('int_client_measures_joined') }}

),

dimensions as (

    select * from {{ ref('int_client_dimensions_assigned') }}

),

memberships as (

    select * from {{ ref('int_client_groups_ranked') }}

),

churn_risks as (

    select * from {{ ref('int_client_churn_risks_scored') }}

),

playbooks as (

    select * from {{ ref('rule_playbooks') }}

),

rule_versions as (

    select rule_version from {{ ref('int_rule_versions_hashed') }}

),

current_memberships as (

    select memberships.*
    from memberships
    inner join as_of_dates
        on memberships.as_of_date = as_of_dates.as_of_date

),

group_lists as (

    select
        client_id,
        max(case when is_primary then group_code end) as primary_group,
        coalesce(
            {{ dbt.listagg(
                'case when not is_fallback_group then group_code end',
                "','",
                'order by group_priority'
            ) }},
            ''
        ) as group_codes
    from current_memberships
    group by client_id

),

final as (

    select
        cast(measures.client_id as {{ dbt.type_string() }}) as client_id,
        cast(measures.as_of_date as date) as as_of_date,
        cast(measures.age as integer) as age,
        cast(measures.gender as {{ dbt.type_string() }}) as gender,
        cast(measures.total_assets as decimal(18, 2)) as total_assets,
        cast(dimensions.asset_tier as {{ dbt.type_string() }}) as asset_tier,
        cast(dimensions.age_band as {{ dbt.type_string() }}) as age_band,
        cast(dimensions.trading_frequency as {{ dbt.type_string() }}) as trading_frequency,
        cast(dimensions.lifecycle_stage as {{ dbt.type_string() }}) as lifecycle_stage,
        cast(group_lists.primary_group as {{ dbt.type_string() }}) as primary_group,
        cast(group_lists.group_codes as {{ dbt.type_string() }}) as group_codes,
        cast(churn_risks.churn_risk_score as decimal(5, 2)) as churn_risk_score,
        cast(churn_risks.churn_risk_level as {{ dbt.type_string() }}) as churn_risk_level,
        cast(churn_risks.churn_reasons as {{ dbt.type_string() }}) as churn_reasons,
        cast(playbooks.service_channel as {{ dbt.type_string() }}) as service_channel,
        cast(measures.risk_level as {{ dbt.type_string() }}) as risk_level,
        cast(measures.needs_risk_assessment as boolean) as needs_risk_assessment,
        cast(measures.open_channel as {{ dbt.type_string() }}) as open_channel,
        cast(measures.branch_id as {{ dbt.type_string() }}) as branch_id,
        cast(rule_versions.rule_version as {{ dbt.type_string() }}) as rule_version
    from measures
    inner join as_of_dates
        on measures.as_of_date = as_of_dates.as_of_date
    inner join dimensions
        on
            measures.client_id = dimensions.client_id
            and measures.as_of_date = dimensions.as_of_date
    left join group_lists
        on measures.client_id = group_lists.client_id
    left join churn_risks
        on
            measures.client_id = churn_risks.client_id
            and measures.as_of_date = churn_risks.as_of_date
    left join playbooks
        on group_lists.primary_group = playbooks.group_code
    cross join rule_versions

)

select * from final
