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

client_vectors as (

    -- one vector per client, in feature order (the fit's features, all present: the
    -- prepared features are null-free)
    select
        client_id,
        as_of_date,
        list(feature_name order by feature_name) as feature_names,
        list(feature_z order by feature_name) as features_z
    from standardized
    group by
        client_id,
        as_of_date

),

centroid_vectors as (

    select
        cluster_id,
        list(feature_name order by feature_name) as feature_names,
        list(centroid_z order by feature_name) as centroids_z
    from centroids
    group by cluster_id

),

distances as (

    -- Euclidean, summed in feature order within each pair of vectors: the same input gives
    -- the same distance to the last bit, whatever the threads do. One client x cluster row
    -- each (an ordered list per client x cluster ran out of memory at 1 M clients).
    select
        client_vectors.client_id,
        client_vectors.as_of_date,
        centroid_vectors.cluster_id,
        list_distance(client_vectors.features_z, centroid_vectors.centroids_z) as distance
    from client_vectors
    inner join centroid_vectors
        on client_vectors.feature_names = centroid_vectors.feature_names

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
        client_id,
        as_of_date,
        any_value(cluster_id) filter (where distance_rank = 1) as cluster_id,
        any_value(distance) filter (where distance_rank = 1) as distance,
        any_value(cluster_id) filter (where distance_rank = 2) as runner_up_cluster_id,
        any_value(distance) filter (where distance_rank = 2) as runner_up_distance
    from ranked
    where distance_rank <= 2
    group by
        client_id,
        as_of_date

)

select * from final
