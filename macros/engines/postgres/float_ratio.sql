{#- Postgres: dbt.type_float() is double precision there, and real / bigint is computed in
    double; real / real is a float32 division (float4div), DuckDB's FLOAT / BIGINT. -#}
{% macro postgres__float_ratio(numerator, denominator) -%}
    (cast({{ numerator }} as real) / cast({{ denominator }} as real))
{%- endmacro %}
