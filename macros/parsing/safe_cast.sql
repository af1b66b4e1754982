{#- dbt.safe_cast is a plain cast on DuckDB and raises on bad input; try_cast yields null.
    dbt dispatches its own `safe_cast` to the root project first, so this overrides it. -#}
{% macro duckdb__safe_cast(field, type) -%}
    try_cast({{ field }} as {{ type }})
{%- endmacro %}
