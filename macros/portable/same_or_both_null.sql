{#- True when a and b are equal or both null: a join key that may be null, compared as
    `is not distinct from` does (DuckDB and Spark hash-join that form). -#}
{% macro same_or_both_null(a, b) -%}
    {{ return(adapter.dispatch('same_or_both_null', 'kequn')(a, b)) }}
{%- endmacro %}

{% macro default__same_or_both_null(a, b) -%}
    {{ a }} is not distinct from {{ b }}
{%- endmacro %}
