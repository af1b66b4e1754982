{{ config(enabled=target.type == 'duckdb') }}
-- The clusters' client shares sum to 1, and their clients to the assignments of the
-- current as-of date; the cross-tab holds the same clients per cluster.
with

profiles as (

    select * from {{ ref('behaviour_cluster_profiles') }}

),

assignments as (

    select * from {{ ref('client_behaviour_clusters') }}

),

crosstab as (

    select * from {{ ref('behaviour_cluster_group_crosstab') }}

),

profile_totals as (

    select
        sum(client_share) as share_sum,
        sum(clients) as clients
    from profiles

),

assigned_totals as (

    select count(*) as clients
    from assignments
    where as_of_date = (select max(profiles.as_of_date) from profiles)

),

crosstab_clusters as (

    select
        cluster_id,
        sum(clients) as clients
    from crosstab
    group by cluster_id

),

crosstab_mismatches as (

    select count(*) as clusters
    from profiles
    left join crosstab_clusters
        on profiles.cluster_id = crosstab_clusters.cluster_id
    where coalesce(crosstab_clusters.clients, 0) <> profiles.clients

)

select
    profile_totals.share_sum,
    profile_totals.clients as profile_clients,
    assigned_totals.clients as assigned_clients,
    crosstab_mismatches.clusters as crosstab_mismatched_clusters
from profile_totals
cross join assigned_totals
cross join crosstab_mismatches
where
    (profile_totals.clients > 0 and abs(profile_totals.share_sum - 1) > 0.000001)
    or coalesce(profile_totals.clients, 0) <> assigned_totals.clients
    or crosstab_mismatches.clusters > 0
