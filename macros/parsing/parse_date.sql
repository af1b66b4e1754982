{#- Text to a date. Accepts YYYY-MM-DD, YYYYMMDD and YYYY/M/D (month and day of one or two
    digits); anything else, and impossible calendar dates (2025-02-30), give null. -#}
{% macro parse_date(col) -%}
    {{ return(adapter.dispatch('parse_date', 'kequn')(col)) }}
{%- endmacro %}

{% macro duckdb__parse_date(col) -%}
    {%- set v = blank_to_null(col) -%}
    cast(case
        when {{ kequn.matches_pattern(v, '[0-9]{4}-[0-9]{2}-[0-9]{2}') }} then try_strptime({{ v }}, '%Y-%m-%d')
        when {{ kequn.matches_pattern(v, '[0-9]{8}') }} then try_strptime({{ v }}, '%Y%m%d')
        when {{ kequn.matches_pattern(v, '[0-9]{4}/[0-9]{1,2}/[0-9]{1,2}') }} then try_strptime({{ v }}, '%Y/%m/%d')
    end as date)
{%- endmacro %}

{#- Postgres-flavoured fallback: validate the shape, then to_date (which does not reject
    2025-02-30 on every engine; see DECISIONS.md). -#}
{% macro default__parse_date(col) -%}
    {%- set v = blank_to_null(col) -%}
    case
        when {{ kequn.matches_pattern(v, '[0-9]{4}-[0-9]{2}-[0-9]{2}') }} then to_date({{ v }}, 'YYYY-MM-DD')
        when {{ kequn.matches_pattern(v, '[0-9]{8}') }} then to_date({{ v }}, 'YYYYMMDD')
        when {{ kequn.matches_pattern(v, '[0-9]{4}/[0-9]{1,2}/[0-9]{1,2}') }} then to_date({{ v }}, 'YYYY/MM/DD')
    end
{%- endmacro %}
