-- One row per month end (and the current as-of date, is_month_end = false) per group:
-- members, their assets, how many are active, zombie or at churn risk, and how many joined
-- or left the group since the previous month end (migration).
with

as_of_dates as (

    select * from {{ ref('int_as_of_dates_spined') }}

),

history as (

    select * from {{ ref('client_group_membership_history') }}

),

group_catalogue as (

    select group_code from {{ ref('rule_groups') }}

),

rule_versions as (

    select rule_version from {{ ref('int_rule_versions_hashed') }}

),

periods as (

    select
        as_of_dates.as_of_date as month_end,
        as_of_dates.is_month_end,
        as_of_dates.previous_as_of_date as previous_month_end,
        group_catalogue.group_code
    from as_of_dates
    cross join group_catalogue

),

members as (

    select
        month_end,
        group_code,
        count(*) as clients,
        sum(total_assets) as total_assets,
        sum(case when lifecycle_stage = 'active' then 1 else 0 end) as active_clients,
        sum(case when lifecycle_stage = 'zombie' then 1 else 0 end) as zombie_clients,
        sum(case when is_churn_risk then 1 else 0 end) as churn_risk_clients
    from history
    group by month_end, group_code

),

migrations as (

    select
        periods.month_end,
        periods.group_code,
        count(case when previous.client_id is null then current_members.client_id end) as joined_clients,
        0 as left_clients
    from periods
    inner join history as current_members
        on
            periods.month_end = current_members.month_end
            and periods.group_code = current_members.group_code
    left join history as previous
        on
            periods.previous_month_end = previous.month_end
            and current_members.group_code = previous.group_code
            and current_members.client_id = previous.client_id
    group by periods.month_end, periods.group_code

    union all

    select
        periods.month_end,
        periods.group_code,
        0 as joined_clients,
        count(case when staying.client_id is null then previous.client_id end) as left_clients
    from periods
    inner join history as previous
        on
            periods.previous_month_end = previous.month_end
            and periods.group_code = previous.group_code
    left join history as staying
        on
            periods.month_end = staying.month_end
            and previous.group_code = staying.group_code
            and previous.client_id = staying.client_id
    group by periods.month_end, periods.group_code

),

migration_totals as (

    select
        month_end,
        group_code,
        sum(joined_clients) as joined_clients,
        sum(left_clients) as left_clients
    from migrations
    group by month_end, group_code

),

final as (

    select
        cast(periods.month_end as date) as month_end,
        cast(periods.is_month_end as boolean) as is_month_end,
        cast(periods.group_code as {{ dbt.type_string() }}) as group_code,
        cast(coalesce(members.clients, 0) as bigint) as clients,
        cast(coalesce(members.total_assets, 0) as decimal(20, 2)) as total_assets,
        cast(coalesce(members.active_clients, 0) as bigint) as active_clients,
        cast(coalesce(members.zombie_clients, 0) as bigint) as zombie_clients,
        cast(coalesce(members.churn_risk_clients, 0) as bigint) as churn_risk_clients,
        cast(coalesce(migration_totals.joined_clients, 0) as bigint) as joined_clients,
        cast(coalesce(migration_totals.left_clients, 0) as bigint) as left_clients,
        cast(rule_versions.rule_version as {{ dbt.type_string() }}) as rule_version
    from periods
    left join members
        on
            periods.month_end = members.month_end
            and periods.group_code = members.group_code
    left join migration_totals
        on
            periods.month_end = migration_totals.month_end
            and periods.group_code = migration_totals.group_code
    cross join rule_versions

)

select * from final
