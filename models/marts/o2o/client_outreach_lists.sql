-- One row per individual client known at the as-of date: the outreach list the service
-- channel of its primary group's playbook sends it to (advisor call list for offline and
-- O2O channels, online campaign audience for online ones, rule_outreach_channels), with
-- what an advisor or a campaign needs to act: why the client is in the group, its churn
-- warning, its top suitable products (client_product_recommendations, never recomputed)
-- and its next action (first matching rule_outreach_actions row). No PII.
with

segments as (

    select * from {{ ref('client_segments') }}

),

primary_memberships as (

    select * from {{ ref('client_group_memberships') }}
    where is_primary

),

recommendations as (

    select * from {{ ref('client_product_recommendations') }}

),

profiles as (

    select * from {{ ref('int_client_profiles_resolved') }}

),

groups as (

    select * from {{ ref('rule_groups') }}

),

playbooks as (

    select * from {{ ref('rule_playbooks') }}

),

lifecycle_stages as (

    select * from {{ ref('rule_lifecycle_stages') }}

),

churn_levels as (

    select * from {{ ref('rule_churn_levels') }}

),

outreach_channels as (

    select * from {{ ref('rule_outreach_channels') }}

),

outreach_actions as (

    select * from {{ ref('rule_outreach_actions') }}

),

parameters as (

    select * from {{ ref('int_rule_parameters_pivoted') }}

),

top_products as (

    select
        recommendations.client_id,
        {{ dbt.listagg('recommendations.product_code', "','", 'order by recommendations.rank') }}
            as top_products,
        {{ dbt.listagg('recommendations.product_type', "','", 'order by recommendations.rank') }}
            as top_product_types
    from recommendations
    cross join parameters
    where recommendations.rank <= parameters.outreach_top_products
    group by recommendations.client_id

),

matched_actions as (

    select
        segments.client_id,
        outreach_actions.is_contactable,
        outreach_actions.next_action,
        outreach_actions.next_action_zh,
        row_number() over (
            partition by segments.client_id
            order by outreach_actions.priority
        ) as action_rank
    from segments
    inner join outreach_actions
        on case outreach_actions.match_column
            when 'lifecycle_stage' then segments.lifecycle_stage = outreach_actions.match_value
            when 'churn_risk_level' then segments.churn_risk_level = outreach_actions.match_value
            when 'needs_risk_assessment'
                then
                    lower(cast(segments.needs_risk_assessment as {{ dbt.type_string() }}))
                    = lower(outreach_actions.match_value)
            when 'default' then true
            else false
        end

),

next_actions as (

    select * from matched_actions
    where action_rank = 1

),

final as (

    select
        cast(segments.client_id as {{ dbt.type_string() }}) as client_id,
        cast(segments.as_of_date as date) as as_of_date,
        cast(outreach_channels.outreach_list as {{ dbt.type_string() }}) as outreach_list,
        cast(outreach_channels.outreach_list_zh as {{ dbt.type_string() }}) as outreach_list_zh,
        cast(next_actions.is_contactable as boolean) as is_contactable,
        cast(profiles.branch_id as {{ dbt.type_string() }}) as branch_id,
        cast(segments.primary_group as {{ dbt.type_string() }}) as primary_group,
        cast(groups.group_name_zh as {{ dbt.type_string() }}) as primary_group_name_zh,
        cast(segments.service_channel as {{ dbt.type_string() }}) as service_channel,
        cast(playbooks.service_channel_zh as {{ dbt.type_string() }}) as service_channel_zh,
        cast(primary_memberships.evidence as {{ dbt.type_string() }}) as evidence,
        cast(segments.lifecycle_stage as {{ dbt.type_string() }}) as lifecycle_stage,
        cast(lifecycle_stages.stage_name_zh as {{ dbt.type_string() }}) as lifecycle_stage_zh,
        cast(segments.asset_tier as {{ dbt.type_string() }}) as asset_tier,
        cast(segments.churn_risk_score as decimal(5, 2)) as churn_risk_score,
        cast(segments.churn_risk_level as {{ dbt.type_string() }}) as churn_risk_level,
        cast(churn_levels.level_name_zh as {{ dbt.type_string() }}) as churn_risk_level_zh,
        cast(segments.churn_reasons as {{ dbt.type_string() }}) as churn_reasons,
        cast(coalesce(top_products.top_products, '') as {{ dbt.type_string() }}) as top_products,
        cast(coalesce(top_products.top_product_types, '') as {{ dbt.type_string() }})
            as top_product_types,
        cast(segments.needs_risk_assessment as boolean) as needs_risk_assessment,
        cast(next_actions.next_action as {{ dbt.type_string() }}) as next_action,
        cast(next_actions.next_action_zh as {{ dbt.type_string() }}) as next_action_zh,
        cast(playbooks.playbook as {{ dbt.type_string() }}) as playbook,
        cast(segments.rule_version as {{ dbt.type_string() }}) as rule_version
    from segments
    left join primary_memberships
        on segments.client_id = primary_memberships.client_id
    left join profiles
        on
            segments.client_id = profiles.client_id
            and segments.as_of_date = profiles.as_of_date
    left join groups
        on segments.primary_group = groups.group_code
    left join playbooks
        on segments.primary_group = playbooks.group_code
    left join outreach_channels
        on segments.service_channel = outreach_channels.service_channel
    left join lifecycle_stages
        on segments.lifecycle_stage = lifecycle_stages.stage_code
    left join churn_levels
        on segments.churn_risk_level = churn_levels.level_code
    left join top_products
        on segments.client_id = top_products.client_id
    left join next_actions
        on segments.client_id = next_actions.client_id

)

select * from final
