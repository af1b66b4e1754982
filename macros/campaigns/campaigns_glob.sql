{#- The files of every frozen campaign cohort: <state folder>/campaigns/*.parquet, the
    folder from KEQUN_CAMPAIGNS_DIR (set by kequn.dbt.dbt_env for each build; the default
    is the default warehouse's). The source campaigns.frozen_members reads the same glob. -#}
{% macro campaigns_glob() -%}
    {{- return(env_var('KEQUN_CAMPAIGNS_DIR', 'warehouse/kequn.state/campaigns') ~ '/*.parquet') -}}
{%- endmacro %}
