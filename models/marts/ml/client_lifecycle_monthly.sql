{{ config(**kequn.partition_overwrite_config('partition_month_end')) }}
{#- Incremental by calendar month (kequn.history_restate_from), like the other history
    marts: a nightly run recomputes the months from the earliest one whose inputs changed. -#}
-- depends_on: {{ ref('stg_brokerage__trades_rejected') }}
{%- set restate_from = kequn.history_restate_from() %}
-- One row per individual client per month end (and per the current as-of date): its
-- lifecycle stage and churn early warning (score, level, reasons) at that date, from data
-- up to it. Kept as history because the intermediate layer computes past month ends only
-- in the run that first publishes them; client_churn_training_set reads its labels and
-- the rule-based baseline score from here.
with

as_of_dates as (

    select * from {{ ref('int_as_of_dates_spined') }}
    {% if restate_from -%}
        where as_of_date >= cast('{{ restate_from }}' as date)
    {%- endif %}

),

dimensions as (

    select * from {{ ref('int_client_dimensions_assigned') }}
    {% if restate_from -%}
        where as_of_date >= cast('{{ restate_from }}' as date)
    {%- endif %}

),

churn_risks as (

    select * from {{ ref('int_client_churn_risks_scored') }}

),

rule_versions as (

    select rule_version from {{ ref('int_rule_versions_hashed') }}

),

final as (

    select
        cast(dimensions.client_id as {{ dbt.type_string() }}) as client_id,
        cast(dimensions.as_of_date as date) as month_end,
        cast(as_of_dates.is_month_end as boolean) as is_month_end,
        cast(dimensions.lifecycle_stage as {{ dbt.type_string() }}) as lifecycle_stage,
        cast(churn_risks.churn_risk_score as decimal(5, 2)) as churn_risk_score,
        cast(churn_risks.churn_risk_level as {{ dbt.type_string() }}) as churn_risk_level,
        cast(churn_risks.churn_reasons as {{ dbt.type_string() }}) as churn_reasons,
        cast(rule_versions.rule_version as {{ dbt.type_string() }}) as rule_version,
        cast({{ dbt.last_day('dimensions.as_of_date', 'month') }} as date) as partition_month_end,
        cast({{ kequn.history_landed_batch_id() }} as integer) as _batch_id
    from dimensions
    inner join as_of_dates
        on dimensions.as_of_date = as_of_dates.as_of_date
    left join churn_risks
        on
            dimensions.client_id = churn_risks.client_id
            and dimensions.as_of_date = churn_risks.as_of_date
    cross join rule_versions

)

select * from final
