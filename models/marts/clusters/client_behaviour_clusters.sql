{{ config(**kequn.partition_overwrite_config('partition_month_end')) }}
{#- Incremental by calendar month: each build replaces the partition of its as-of date's
    month, so the table keeps one as-of date per past month (the last one built, the month
    end once a build has run on it) and the current one. delete+insert replaces only the
    partitions present in the new rows: the pre-hook also empties the current month when
    no client is clustered today, so no stale assignment survives. -#}
{{ config(pre_hook=[
    "{% if is_incremental() %}delete from {{ this }} where partition_month_end = ("
    ~ "select cast(" ~ dbt.last_day('as_of_date', 'month') ~ " as date) from "
    ~ "{{ ref('int_as_of_dates_spined') }} where is_current){% endif %}",
]) }}
-- depends_on: {{ ref('int_as_of_dates_spined') }}
-- One row per clustered client per as-of date: the behavioural cluster (AI 精细化分群) the
-- client was assigned to by the build of that date, its distance and the runner-up.
with

assigned as (

    select * from {{ ref('int_client_behaviour_clusters_assigned') }}

),

fit as (

    select distinct
        k,
        model_version
    from {{ ref('int_behaviour_clusters_fitted') }}

),

rule_versions as (

    select rule_version from {{ ref('int_rule_versions_hashed') }}

),

final as (

    select
        cast(assigned.client_id as {{ dbt.type_string() }}) as client_id,
        cast(assigned.as_of_date as date) as as_of_date,
        cast(assigned.cluster_id as integer) as cluster_id,
        cast(assigned.distance as double) as distance,
        cast(assigned.runner_up_cluster_id as integer) as runner_up_cluster_id,
        cast(assigned.runner_up_distance as double) as runner_up_distance,
        cast(fit.k as integer) as k,
        cast(fit.model_version as {{ dbt.type_string() }}) as model_version,
        cast(rule_versions.rule_version as {{ dbt.type_string() }}) as rule_version,
        cast({{ dbt.last_day('assigned.as_of_date', 'month') }} as date) as partition_month_end
    from assigned
    cross join fit
    cross join rule_versions

)

select * from final
