{#- dbt.safe_cast on Spark: `try_cast`. Spark 4 runs in ANSI mode (spark.sql.ansi.enabled
    defaults to true), where dbt-spark's plain `cast` raises on a value that does not
    convert instead of giving null; the typing macros rely on null (then a reject reason). -#}
{% macro spark__safe_cast(field, type) -%}
    try_cast({{ field }} as {{ type }})
{%- endmacro %}
