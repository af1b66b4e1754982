{#- Postgres: DuckDB's value (rounded to the numeric type's scale), without the trailing
    zeros Postgres prints for numeric(28,6): dbt reads a Postgres column's type without
    its modifiers, so a unit test's expected `100` is cast to bare numeric and would not
    equal `100.000000`. trim_scale changes no value, only the scale. -#}
{% macro postgres__safe_decimal(col, type=none) -%}
    {%- if type is none -%}
        trim_scale({{ kequn.default__safe_decimal(col) }})
    {%- else -%}
        {{ kequn.default__safe_decimal(col, type) }}
    {%- endif -%}
{%- endmacro %}
