{#- True when at least one frozen campaign cohort file exists (campaigns_glob), at execution
    only. The cohorts are Parquet files under the warehouse's state folder, which DuckDB
    reads in place; engines that cannot (Postgres) see no cohort yet. -#}
{% macro campaign_files_exist() -%}
    {{ return(adapter.dispatch('campaign_files_exist', 'kequn')()) }}
{%- endmacro %}

{% macro default__campaign_files_exist() -%}
    {%- set found = run_query("select count(*) from glob('" ~ kequn.campaigns_glob() ~ "')") %}
    {{ return(found.columns[0].values()[0] > 0) }}
{%- endmacro %}
