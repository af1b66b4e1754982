-- One row per behavioural cluster per feature at the current as-of date: the centroid in
-- standardized units (z over the clustered clients) and in the feature's own units.
with

centroids as (

    select * from {{ ref('int_behaviour_clusters_fitted') }}

),

feature_list as (

    select * from {{ ref('rule_cluster_features') }}

),

final as (

    select
        cast(centroids.as_of_date as date) as as_of_date,
        cast(centroids.cluster_id as integer) as cluster_id,
        cast(centroids.feature_name as {{ dbt.type_string() }}) as feature_name,
        cast(feature_list.feature_area as {{ dbt.type_string() }}) as feature_area,
        cast(feature_list.label_zh as {{ dbt.type_string() }}) as label_zh,
        cast(feature_list.label_en as {{ dbt.type_string() }}) as label_en,
        cast(centroids.centroid_z as double) as centroid_z,
        cast(centroids.centroid_value as double) as centroid_value,
        cast(centroids.feature_mean as double) as feature_mean,
        cast(centroids.feature_std as double) as feature_std,
        cast(centroids.model_version as {{ dbt.type_string() }}) as model_version
    from centroids
    inner join feature_list
        on centroids.feature_name = feature_list.feature_name

)

select * from final
