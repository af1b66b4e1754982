{#- parse_date on Spark: the DuckDB variant's shapes, parsed with `try_to_timestamp` (null
    for an impossible date such as 2025-02-30; Spark 4's ANSI mode makes the plain
    `to_date`/`to_timestamp` raise instead). -#}
{% macro spark__parse_date(col) -%}
    {%- set v = blank_to_null(col) -%}
    cast(case
        when {{ kequn.matches_pattern(v, '[0-9]{4}-[0-9]{2}-[0-9]{2}') }} then try_to_timestamp({{ v }}, 'yyyy-MM-dd')
        when {{ kequn.matches_pattern(v, '[0-9]{8}') }} then try_to_timestamp({{ v }}, 'yyyyMMdd')
        when {{ kequn.matches_pattern(v, '[0-9]{4}/[0-9]{1,2}/[0-9]{1,2}') }} then try_to_timestamp({{ v }}, 'yyyy/M/d')
    end as date)
{%- endmacro %}
