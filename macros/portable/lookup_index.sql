{#- An index for the lookups a seed serves (its post-hook): none on DuckDB and Spark,
    whose planners turn normalize_code's scalar subquery into one join. -#}
{% macro lookup_index(relation, columns) -%}
    {{ return(adapter.dispatch('lookup_index', 'kequn')(relation, columns)) }}
{%- endmacro %}

{% macro default__lookup_index(relation, columns) -%}
{%- endmacro %}
