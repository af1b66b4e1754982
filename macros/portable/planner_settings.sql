{#- Settings a base model's statement runs with (its pre-hook, dbt_project.yml): none on
    DuckDB and Spark. -#}
{% macro planner_settings() -%}
    {{ return(adapter.dispatch('planner_settings', 'kequn')()) }}
{%- endmacro %}

{% macro default__planner_settings() -%}
{%- endmacro %}
