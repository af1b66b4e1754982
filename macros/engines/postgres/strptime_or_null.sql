{#- Postgres: one of the named timestamp layouts (the caller has matched its shape), null
    on an impossible value as DuckDB's try_strptime: the day by pg_checked_date, the time
    within 00:00:00-23:59:59 (DuckDB refuses 24:00:00 and a leap second 60 too). -#}
{% macro postgres__strptime_or_null(expr, layout) -%}
    {#- 1-based offsets of year, month, day, hour, minute, second in each layout -#}
    {%- set offsets = {
        'iso_space': [1, 6, 9, 12, 15, 18],
        'compact': [1, 5, 7, 10, 12, 14],
        'iso_t': [1, 6, 9, 12, 15, 18],
    }[layout] -%}
    {%- set parts = [] -%}
    {%- for offset in offsets -%}
        {%- do parts.append('cast(substr(' ~ expr ~ ', ' ~ offset ~ ', ' ~ (4 if loop.first else 2)
            ~ ') as ' ~ dbt.type_int() ~ ')') -%}
    {%- endfor -%}
    case when {{ parts[3] }} <= 23 and {{ parts[4] }} <= 59 and {{ parts[5] }} <= 59 then
        cast({{ kequn.pg_checked_date(parts[0], parts[1], parts[2]) }}
        + make_interval(hours => {{ parts[3] }}, mins => {{ parts[4] }}, secs => {{ parts[5] }})
        as {{ dbt.type_timestamp() }})
    end
{%- endmacro %}
