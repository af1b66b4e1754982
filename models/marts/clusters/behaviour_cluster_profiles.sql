-- One row per behavioural cluster at the current as-of date: size, assets, the features
-- that set it apart (largest |z|), a plain-language profile in Chinese and English from
-- the phrases of rule_cluster_phrases, the rule groups and lifecycle stages it holds most,
-- and the fit (k, silhouette, model version).
{%- set max_phrases = var('cluster_profile_max_phrases') | int %}

with

assigned as (

    select * from {{ ref('int_client_behaviour_clusters_assigned') }}

),

segments as (

    select * from {{ ref('client_segments') }}

),

centroids as (

    select * from {{ ref('int_behaviour_clusters_fitted') }}

),

phrases as (

    select * from {{ ref('rule_cluster_phrases') }}

),

rule_versions as (

    select rule_version from {{ ref('int_rule_versions_hashed') }}

),

fit as (

    select distinct
        as_of_date,
        cluster_id,
        is_new_cluster,
        previous_cluster_distance,
        k,
        criterion_name,
        criterion_value,
        criterion_by_k,
        fit_note,
        model_version
    from centroids

),

members as (

    select
        assigned.cluster_id,
        segments.client_id,
        segments.total_assets,
        segments.primary_group,
        segments.lifecycle_stage
    from assigned
    inner join segments
        on assigned.client_id = segments.client_id

),

sizes as (

    select
        cluster_id,
        count(*) as clients,
        sum(total_assets) as total_assets
    from members
    group by cluster_id

),

totals as (

    select
        count(*) as clients,
        sum(total_assets) as total_assets
    from members

),

group_counts as (

    select
        cluster_id,
        primary_group,
        count(*) as clients,
        row_number() over (
            partition by cluster_id
            order by count(*) desc, primary_group
        ) as group_rank
    from members
    group by cluster_id, primary_group

),

stage_counts as (

    select
        cluster_id,
        lifecycle_stage,
        count(*) as clients,
        row_number() over (
            partition by cluster_id
            order by count(*) desc, lifecycle_stage
        ) as stage_rank
    from members
    group by cluster_id, lifecycle_stage

),

feature_ranks as (

    select
        cluster_id,
        feature_name,
        centroid_z,
        row_number() over (
            partition by cluster_id
            order by abs(centroid_z) desc, feature_name
        ) as z_rank
    from centroids

),

distinguishing as (

    select
        cluster_id,
        {{ dbt.listagg(
            "feature_name || ' ' || case when centroid_z >= 0 then '+' else '' end"
            ~ " || cast(cast(round(centroid_z, 2) as decimal(8, 2)) as " ~ dbt.type_string() ~ ")",
            "'; '",
            'order by z_rank'
        ) }} as distinguishing_features
    from feature_ranks
    where z_rank <= {{ max_phrases }}
    group by cluster_id

),

matched_phrases as (

    select
        feature_ranks.cluster_id,
        phrases.phrase_zh,
        phrases.phrase_en,
        row_number() over (
            partition by feature_ranks.cluster_id
            order by abs(feature_ranks.centroid_z) desc, feature_ranks.feature_name
        ) as phrase_rank
    from feature_ranks
    inner join phrases
        on feature_ranks.feature_name = phrases.feature_name
    where
        (phrases.direction = 'high' and feature_ranks.centroid_z >= phrases.min_abs_z)
        or (phrases.direction = 'low' and feature_ranks.centroid_z <= -phrases.min_abs_z)

),

profile_texts as (

    select
        cluster_id,
        {{ dbt.listagg('phrase_zh', "'、'", 'order by phrase_rank') }} as profile_zh,
        {{ dbt.listagg('phrase_en', "', '", 'order by phrase_rank') }} as profile_en
    from matched_phrases
    where phrase_rank <= {{ max_phrases }}
    group by cluster_id

),

final as (

    select
        cast(fit.as_of_date as date) as as_of_date,
        cast(fit.cluster_id as integer) as cluster_id,
        cast(coalesce(sizes.clients, 0) as bigint) as clients,
        cast(
            case when totals.clients > 0 then coalesce(sizes.clients, 0) * 1.0 / totals.clients end
            as double
        ) as client_share,
        cast(coalesce(sizes.total_assets, 0) as decimal(18, 2)) as total_assets,
        cast(sizes.total_assets / nullif(sizes.clients, 0) as decimal(18, 2)) as assets_per_client,
        cast(sizes.total_assets / nullif(totals.total_assets, 0) as double) as asset_share,
        cast(distinguishing.distinguishing_features as {{ dbt.type_string() }}) as distinguishing_features,
        cast(
            coalesce(profile_texts.profile_zh, '{{ var("cluster_profile_fallback_zh") }}')
            as {{ dbt.type_string() }}
        ) as profile_zh,
        cast(
            coalesce(profile_texts.profile_en, '{{ var("cluster_profile_fallback_en") }}')
            as {{ dbt.type_string() }}
        ) as profile_en,
        cast(group_counts.primary_group as {{ dbt.type_string() }}) as top_primary_group,
        cast(group_counts.clients * 1.0 / nullif(sizes.clients, 0) as double) as top_primary_group_share,
        cast(stage_counts.lifecycle_stage as {{ dbt.type_string() }}) as top_lifecycle_stage,
        cast(stage_counts.clients * 1.0 / nullif(sizes.clients, 0) as double) as top_lifecycle_stage_share,
        cast(fit.is_new_cluster as boolean) as is_new_cluster,
        cast(fit.previous_cluster_distance as double) as previous_cluster_distance,
        cast(fit.k as integer) as k,
        cast(fit.criterion_name as {{ dbt.type_string() }}) as criterion_name,
        cast(fit.criterion_value as double) as criterion_value,
        cast(fit.criterion_by_k as {{ dbt.type_string() }}) as criterion_by_k,
        cast(nullif(fit.fit_note, '') as {{ dbt.type_string() }}) as fit_note,
        cast(fit.model_version as {{ dbt.type_string() }}) as model_version,
        cast(rule_versions.rule_version as {{ dbt.type_string() }}) as rule_version
    from fit
    cross join totals
    cross join rule_versions
    left join sizes
        on fit.cluster_id = sizes.cluster_id
    left join distinguishing
        on fit.cluster_id = distinguishing.cluster_id
    left join profile_texts
        on fit.cluster_id = profile_texts.cluster_id
    left join group_counts
        on
            fit.cluster_id = group_counts.cluster_id
            and group_counts.group_rank = 1
    left join stage_counts
        on
            fit.cluster_id = stage_counts.cluster_id
            and stage_counts.stage_rank = 1

)

select * from final
