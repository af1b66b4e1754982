-- One row per acquisition channel (来源, the client's open_channel; `unknown` when blank)
-- per primary group at the as-of date: clients, how many became active and how many are
-- zombie, and their assets.
with

segments as (

    select * from {{ ref('client_segments') }}

),

final as (

    select
        cast(coalesce(open_channel, 'unknown') as {{ dbt.type_string() }}) as open_channel,
        cast(primary_group as {{ dbt.type_string() }}) as primary_group,
        cast(max(as_of_date) as date) as as_of_date,
        cast(count(*) as bigint) as clients,
        cast(sum(case when lifecycle_stage = 'active' then 1 else 0 end) as bigint) as active_clients,
        cast(sum(case when lifecycle_stage = 'zombie' then 1 else 0 end) as bigint) as zombie_clients,
        cast(sum(total_assets) as decimal(20, 2)) as total_assets,
        cast(max(rule_version) as {{ dbt.type_string() }}) as rule_version
    from segments
    group by coalesce(open_channel, 'unknown'), primary_group

)

select * from final
