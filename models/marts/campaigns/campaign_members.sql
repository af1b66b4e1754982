-- One row per campaign per frozen client (campaign x client): the arm it was drawn into
-- (control or treatment), its baseline at the freeze and where it stands today.
with

members as (

    select * from {{ ref('stg_campaigns__members') }}

),

segments as (

    select * from {{ ref('client_segments') }}

),

final as (

    select
        cast(members.campaign_name as {{ dbt.type_string() }}) as campaign_name,
        cast(members.client_id as {{ dbt.type_string() }}) as client_id,
        cast(members.group_code as {{ dbt.type_string() }}) as group_code,
        cast(members.branch_filter as {{ dbt.type_string() }}) as branch_filter,
        cast(members.control_share as {{ kequn.type_double() }}) as control_share,
        cast(members.frozen_at as {{ dbt.type_timestamp() }}) as frozen_at,
        cast(members.as_of_date as date) as as_of_date,
        cast(members.branch_id as {{ dbt.type_string() }}) as branch_id,
        cast(members.arm as {{ dbt.type_string() }}) as arm,
        cast(members.arm = 'control' as boolean) as is_control,
        cast(members.arm_draw as {{ kequn.type_double() }}) as arm_draw,
        cast(members.baseline_total_assets as decimal(18, 2)) as baseline_total_assets,
        cast(members.baseline_trades_30d as integer) as baseline_trades_30d,
        cast(members.baseline_trades_90d as integer) as baseline_trades_90d,
        cast(members.baseline_net_inflow_90d as decimal(18, 2)) as baseline_net_inflow_90d,
        cast(members.baseline_lifecycle_stage as {{ dbt.type_string() }}) as baseline_lifecycle_stage,
        cast(members.baseline_churn_risk_score as decimal(5, 2)) as baseline_churn_risk_score,
        cast(segments.as_of_date as date) as current_as_of_date,
        cast(segments.total_assets as decimal(18, 2)) as current_total_assets,
        cast(segments.lifecycle_stage as {{ dbt.type_string() }}) as current_lifecycle_stage,
        cast(members.rule_version as {{ dbt.type_string() }}) as frozen_rule_version
    from members
    left join segments
        on members.client_id = segments.client_id

)

select * from final
