{#- Text to a timestamp in local exchange time (Asia/Shanghai), null when it does not parse.
    Accepts `YYYY-MM-DD HH:MM:SS` and `YYYYMMDD HHMMSS` (already local), and ISO 8601
    `YYYY-MM-DDTHH:MM:SS` with an optional offset (`+08:00`, `-05:00`, `Z`): an offset is
    converted to Asia/Shanghai, which is UTC+8 all year (no daylight saving since 1991), so
    the conversion is plain arithmetic: local = wall time - offset + 8 h. -#}
{% macro parse_local_timestamp(col) -%}
    {%- set v = blank_to_null(col) -%}
    {%- set iso = '[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}' -%}
    {%- set offset_minutes -%}
        case
            when {{ kequn.matches_pattern(v, iso ~ '([+-][0-9]{2}:[0-9]{2})') }}
                then (case when substr({{ v }}, 20, 1) = '-' then -1 else 1 end)
                * (
                    {{ dbt.safe_cast('substr(' ~ v ~ ', 21, 2)', dbt.type_int()) }} * 60
                    + {{ dbt.safe_cast('substr(' ~ v ~ ', 24, 2)', dbt.type_int()) }}
                )
            when {{ kequn.matches_pattern(v, iso ~ 'Z') }} then 0
            else 480
        end
    {%- endset -%}
    case
        when {{ kequn.matches_pattern(v, '[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}') }}
            then {{ kequn.strptime_or_null(v, 'iso_space') }}
        when {{ kequn.matches_pattern(v, '[0-9]{8} [0-9]{6}') }}
            then {{ kequn.strptime_or_null(v, 'compact') }}
        when {{ kequn.matches_pattern(v, iso ~ '([+-][0-9]{2}:[0-9]{2}|Z)?') }}
            then {{ dbt.dateadd('minute', '480 - ' ~ offset_minutes, kequn.strptime_or_null('substr(' ~ v ~ ', 1, 19)', 'iso_t')) }}
    end
{%- endmacro %}

{#- Parse one of the named timestamp layouts; null on an impossible value. -#}
{% macro strptime_or_null(expr, layout) -%}
    {{ return(adapter.dispatch('strptime_or_null', 'kequn')(expr, layout)) }}
{%- endmacro %}

{% macro duckdb__strptime_or_null(expr, layout) -%}
    {%- set formats = {'iso_space': '%Y-%m-%d %H:%M:%S', 'compact': '%Y%m%d %H%M%S', 'iso_t': '%Y-%m-%dT%H:%M:%S'} -%}
    try_strptime({{ expr }}, '{{ formats[layout] }}')
{%- endmacro %}

{% macro default__strptime_or_null(expr, layout) -%}
    {%- set formats = {'iso_space': 'YYYY-MM-DD HH24:MI:SS', 'compact': 'YYYYMMDD HH24MISS', 'iso_t': 'YYYY-MM-DD"T"HH24:MI:SS'} -%}
    cast(to_timestamp({{ expr }}, '{{ formats[layout] }}') as {{ dbt.type_timestamp() }})
{%- endmacro %}
