{#- The 8-byte floating-point type: `double` on DuckDB and Spark, `double precision` on
    Postgres (where `double` alone is no type). dbt.type_float() is no substitute: it is
    the 4-byte `float` on DuckDB. -#}
{% macro type_double() -%}
    {{ return(adapter.dispatch('type_double', 'kequn')()) }}
{%- endmacro %}

{% macro default__type_double() -%}
    double
{%- endmacro %}
