-- One row per individual client per group it belongs to at the current as-of date
-- (client x group): what `kequn campaign freeze` copies into a frozen cohort - the
-- client's branch and its baseline assets, trades, lifecycle stage and churn score.
with

segments as (

    select * from {{ ref('client_segments') }}

),

memberships as (

    select * from {{ ref('client_group_memberships') }}

),

measures as (

    select * from {{ ref('int_client_measures_joined') }}
    where is_current

),

final as (

    select
        cast(memberships.client_id as {{ dbt.type_string() }}) as client_id,
        cast(segments.as_of_date as date) as as_of_date,
        cast(memberships.group_code as {{ dbt.type_string() }}) as group_code,
        cast(measures.branch_id as {{ dbt.type_string() }}) as branch_id,
        cast(segments.total_assets as decimal(18, 2)) as total_assets,
        cast(measures.trades_30d as integer) as trades_30d,
        cast(measures.trades_90d as integer) as trades_90d,
        cast(measures.net_inflow_90d as decimal(18, 2)) as net_inflow_90d,
        cast(segments.lifecycle_stage as {{ dbt.type_string() }}) as lifecycle_stage,
        cast(segments.churn_risk_score as decimal(5, 2)) as churn_risk_score,
        cast(segments.rule_version as {{ dbt.type_string() }}) as rule_version
    from memberships
    inner join segments
        on memberships.client_id = segments.client_id
    inner join measures
        on memberships.client_id = measures.client_id

)

select * from final
