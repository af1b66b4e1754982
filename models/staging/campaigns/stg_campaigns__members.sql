-- One row per campaign per frozen client: every cohort file under the warehouse's state
-- folder, typed. With no campaign frozen yet (no file matches the glob, which DuckDB's
-- reader refuses), an empty relation of the same columns and types.
{%- set columns = {
    'campaign_name': dbt.type_string(),
    'group_code': dbt.type_string(),
    'branch_filter': dbt.type_string(),
    'control_share': kequn.type_double(),
    'frozen_at': dbt.type_timestamp(),
    'as_of_date': 'date',
    'client_id': dbt.type_string(),
    'branch_id': dbt.type_string(),
    'arm_draw': kequn.type_double(),
    'arm': dbt.type_string(),
    'baseline_total_assets': 'decimal(18, 2)',
    'baseline_trades_30d': 'integer',
    'baseline_trades_90d': 'integer',
    'baseline_net_inflow_90d': 'decimal(18, 2)',
    'baseline_lifecycle_stage': dbt.type_string(),
    'baseline_churn_risk_score': 'decimal(5, 2)',
    'rule_version': dbt.type_string(),
} %}
{%- set has_files = false %}
{%- if execute %}
    {%- set has_files = kequn.campaign_files_exist() %}
{%- endif %}

with

source as (

    {% if has_files -%}
        select * from {{ source('campaigns', 'frozen_members') }}
    {%- else -%}
        select
            {%- for column in columns %}
                null as {{ column }}{% if not loop.last %},{% endif %}
            {%- endfor %}
        where false
    {%- endif %}

),

typed as (

    select
        {%- for column, data_type in columns.items() %}
            cast({{ column }} as {{ data_type }}) as {{ column }}{% if not loop.last %},{% endif %}
        {%- endfor %}
    from source

)

select * from typed
