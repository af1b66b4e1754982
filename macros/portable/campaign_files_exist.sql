{#- True when at least one frozen campaign cohort file exists (kequn.campaigns_glob()), at
    execution; stg_campaigns__members reads an empty relation of its columns otherwise. -#}
{% macro campaign_files_exist() -%}
    {{ return(adapter.dispatch('campaign_files_exist', 'kequn')()) }}
{%- endmacro %}

{% macro default__campaign_files_exist() -%}
    {%- set found = run_query("select count(*) from glob('" ~ kequn.campaigns_glob() ~ "')") %}
    {{ return(found.columns[0].values()[0] > 0) }}
{%- endmacro %}
