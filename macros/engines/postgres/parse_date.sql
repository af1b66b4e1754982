{#- Postgres: the same three shapes as DuckDB's try_strptime, the calendar checked by
    pg_checked_date (Postgres' to_date would raise on 2025-13-01 and accept 2025-02-30). -#}
{% macro postgres__parse_date(col) -%}
    {%- set v = blank_to_null(col) -%}
    {%- set int = dbt.type_int() -%}
    case
        when {{ kequn.matches_pattern(v, '[0-9]{4}-[0-9]{2}-[0-9]{2}') }} then {{ kequn.pg_checked_date(
            'cast(substr(' ~ v ~ ', 1, 4) as ' ~ int ~ ')',
            'cast(substr(' ~ v ~ ', 6, 2) as ' ~ int ~ ')',
            'cast(substr(' ~ v ~ ', 9, 2) as ' ~ int ~ ')') }}
        when {{ kequn.matches_pattern(v, '[0-9]{8}') }} then {{ kequn.pg_checked_date(
            'cast(substr(' ~ v ~ ', 1, 4) as ' ~ int ~ ')',
            'cast(substr(' ~ v ~ ', 5, 2) as ' ~ int ~ ')',
            'cast(substr(' ~ v ~ ', 7, 2) as ' ~ int ~ ')') }}
        when {{ kequn.matches_pattern(v, '[0-9]{4}/[0-9]{1,2}/[0-9]{1,2}') }} then {{ kequn.pg_checked_date(
            "cast(split_part(" ~ v ~ ", '/', 1) as " ~ int ~ ")",
            "cast(split_part(" ~ v ~ ", '/', 2) as " ~ int ~ ")",
            "cast(split_part(" ~ v ~ ", '/', 3) as " ~ int ~ ")") }}
    end
{%- endmacro %}
