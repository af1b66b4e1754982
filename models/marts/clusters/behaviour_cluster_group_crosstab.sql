-- One row per behavioural cluster x primary group x lifecycle stage holding clients at the
-- current as-of date: how the clusters cut across the rule groups and lifecycle stages.
with

assigned as (

    select * from {{ ref('int_client_behaviour_clusters_assigned') }}

),

segments as (

    select * from {{ ref('client_segments') }}

),

members as (

    select
        assigned.as_of_date,
        assigned.cluster_id,
        segments.primary_group,
        segments.lifecycle_stage,
        segments.total_assets
    from assigned
    inner join segments
        on assigned.client_id = segments.client_id

),

cells as (

    select
        as_of_date,
        cluster_id,
        primary_group,
        lifecycle_stage,
        count(*) as clients,
        sum(total_assets) as total_assets
    from members
    group by as_of_date, cluster_id, primary_group, lifecycle_stage

),

final as (

    select
        cast(as_of_date as date) as as_of_date,
        cast(cluster_id as integer) as cluster_id,
        cast(primary_group as {{ dbt.type_string() }}) as primary_group,
        cast(lifecycle_stage as {{ dbt.type_string() }}) as lifecycle_stage,
        cast(clients as bigint) as clients,
        cast(total_assets as decimal(18, 2)) as total_assets,
        cast(clients * 1.0 / sum(clients) over (partition by cluster_id) as double) as share_of_cluster,
        cast(
            clients * 1.0 / sum(clients) over (partition by primary_group, lifecycle_stage) as double
        ) as share_of_group_stage
    from cells

)

select * from final
