{{ config(**kequn.partition_overwrite_config('partition_month_end')) }}
{#- Incremental by calendar month (kequn.history_restate_from): a nightly run recomputes the
    months from the earliest one whose inputs changed, and keeps the past ones. -#}
-- depends_on: {{ ref('stg_brokerage__trades_rejected') }}
{%- set restate_from = kequn.history_restate_from() %}
-- One row per month end (and the current as-of date) per individual client per group it
-- belongs to at that date, with its lifecycle stage, assets and churn flag then. Each
-- month end's rows depend only on data up to that month end, so a rebuild (or a later
-- incremental run by month_end) reproduces the same history.
with

as_of_dates as (

    select * from {{ ref('int_as_of_dates_spined') }}
    {% if restate_from -%}
        where as_of_date >= cast('{{ restate_from }}' as date)
    {%- endif %}

),

memberships as (

    select * from {{ ref('int_client_groups_ranked') }}
    {% if restate_from -%}
        where as_of_date >= cast('{{ restate_from }}' as date)
    {%- endif %}

),

measures as (

    select
        client_id,
        as_of_date,
        total_assets
    from {{ ref('int_client_measures_joined') }}

),

dimensions as (

    select * from {{ ref('int_client_dimensions_assigned') }}

),

churn_risks as (

    select * from {{ ref('int_client_churn_risks_scored') }}

),

rule_versions as (

    select rule_version from {{ ref('int_rule_versions_hashed') }}

),

final as (

    select
        cast(memberships.as_of_date as date) as month_end,
        cast(memberships.client_id as {{ dbt.type_string() }}) as client_id,
        cast(memberships.group_code as {{ dbt.type_string() }}) as group_code,
        cast(memberships.is_primary as boolean) as is_primary,
        cast(memberships.evidence as {{ dbt.type_string() }}) as evidence,
        cast(dimensions.lifecycle_stage as {{ dbt.type_string() }}) as lifecycle_stage,
        cast(measures.total_assets as decimal(18, 2)) as total_assets,
        cast(coalesce(churn_risks.is_churn_risk, false) as boolean) as is_churn_risk,
        cast(as_of_dates.is_month_end as boolean) as is_month_end,
        cast(rule_versions.rule_version as {{ dbt.type_string() }}) as rule_version,
        cast({{ dbt.last_day('memberships.as_of_date', 'month') }} as date) as partition_month_end,
        cast({{ kequn.history_landed_batch_id() }} as integer) as _batch_id
    from memberships
    inner join as_of_dates
        on memberships.as_of_date = as_of_dates.as_of_date
    inner join measures
        on
            memberships.client_id = measures.client_id
            and memberships.as_of_date = measures.as_of_date
    inner join dimensions
        on
            memberships.client_id = dimensions.client_id
            and memberships.as_of_date = dimensions.as_of_date
    left join churn_risks
        on
            memberships.client_id = churn_risks.client_id
            and memberships.as_of_date = churn_risks.as_of_date
    cross join rule_versions

)

select * from final
