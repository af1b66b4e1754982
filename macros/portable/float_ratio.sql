{#- numerator / denominator in single precision, as the models have always computed it on
    DuckDB (dbt.type_float() is DuckDB's 4-byte FLOAT, and FLOAT / BIGINT stays FLOAT).
    Other engines reproduce the same float32 division so their answers equal DuckDB's. -#}
{% macro float_ratio(numerator, denominator) -%}
    {{ return(adapter.dispatch('float_ratio', 'kequn')(numerator, denominator)) }}
{%- endmacro %}

{% macro default__float_ratio(numerator, denominator) -%}
    cast({{ numerator }} as {{ dbt.type_float() }}) / {{ denominator }}
{%- endmacro %}
