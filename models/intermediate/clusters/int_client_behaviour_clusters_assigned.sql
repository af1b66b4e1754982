-- One row per clustered client at the current as-of date: the nearest centroid of the fit
-- (Euclidean distance in the fit's standardized space; ties go to the smaller cluster id)
-- and the runner-up, so advisors see how firmly a client sits in its cluster.
with

features as (

    select * from {{ ref('int_client_behaviour_features_prepared') }}

),

centroids as (

    select * from {{ ref('int_behaviour_clusters_fitted') }}

),

scalers as (

    select distinct
        feature_name,
        feature_mean,
        feature_std
    from centroids

),

standardized as (

    select
        features.client_id,
        features.as_of_date,
        features.feature_name,
        (features.feature_value - scalers.feature_mean) / scalers.feature_std as feature_z
    from features
    inner join scalers
        on features.feature_name = scalers.feature_name

),

distances as (

    select
        standardized.client_id,
        standardized.as_of_date,
        centroids.cluster_id,
        -- summed in feature order, not in whatever order parallel threads finish: the same
        -- input gives the same distance to the last bit
        sqrt(list_sum(list(
            power(standardized.feature_z - centroids.centroid_z, 2)
            order by standardized.feature_name
        ))) as distance
    from standardized
    inner join centroids
        on standardized.feature_name = centroids.feature_name
    group by
        standardized.client_id,
        standardized.as_of_date,
        centroids.cluster_id

),

ranked as (

    select
        client_id,
        as_of_date,
        cluster_id,
        distance,
        row_number() over (
            partition by client_id
            order by distance, cluster_id
        ) as distance_rank
    from distances

),

final as (

    select
        nearest.client_id,
        nearest.as_of_date,
        nearest.cluster_id,
        nearest.distance,
        runner_up.cluster_id as runner_up_cluster_id,
        runner_up.distance as runner_up_distance
    from ranked as nearest
    left join ranked as runner_up
        on
            nearest.client_id = runner_up.client_id
            and runner_up.distance_rank = 2
    where nearest.distance_rank = 1

)

select * from final
