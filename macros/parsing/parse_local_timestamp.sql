{#- Text to a timestamp in local exchange time (Asia/Shanghai), null when it does not parse.
    Accepts `YYYY-MM-DD HH:MM:SS` and `YYYYMMDD HHMMSS` (already local), and ISO 8601
    `YYYY-MM-DDTHH:MM:SS` with an optional offset (`+08:00`, `-05:00`, `Z`): an offset is
    converted to Asia/Shanghai, which is UTC+8 all year (no daylight saving since 1991), so
    the conversion is plain arithmetic: local = wall time - offset + 8 h. -#}
{% macro parse_local_timestamp(col) -%}
    {{ return(adapter.dispatch('parse_local_timestamp', 'kequn')(col)) }}
{%- endmacro %}

{#- One try_strptime per value, the layout picked by length and separator positions. What
    strptime would accept beyond the contract is closed by character tests: it skips
    whitespace around the value, and a space in the format matches any run of whitespace, so
    the first and last characters and both neighbours of the space must be digits; fixed
    lengths then leave room only for the full-width fields. The offset's four digits are
    tested one by one. -#}
{% macro duckdb__parse_local_timestamp(col) -%}
    {%- set v = 'trim(' ~ col ~ ')' -%}
    {%- set ch = {} -%}
    {%- for i in [1, 8, 9, 10, 11, 12, 19, 20, 21, 22, 23, 24, 25] -%}
        {%- do ch.update({i: 'substr(' ~ v ~ ', ' ~ i ~ ', 1)'}) -%}
    {%- endfor -%}
    {%- set offset_minutes -%}
        case strlen({{ v }})
            when 19 then 480
            when 20 then case when {{ ch[20] }} = 'Z' then 0 end
            when 25 then case
                when {{ ch[20] }} in ('+', '-') and {{ ch[23] }} = ':'
                    and {{ kequn.is_digit(ch[21]) }} and {{ kequn.is_digit(ch[22]) }}
                    and {{ kequn.is_digit(ch[24]) }} and {{ kequn.is_digit(ch[25]) }}
                    then (case when {{ ch[20] }} = '-' then -1 else 1 end)
                    * (cast(substr({{ v }}, 21, 2) as integer) * 60 + cast(substr({{ v }}, 24, 2) as integer))
            end
        end
    {%- endset -%}
    case
        when not {{ kequn.is_digit(ch[1]) }} then null
        when strlen({{ v }}) = 19 and {{ ch[11] }} = ' '
            and {{ kequn.is_digit(ch[10]) }} and {{ kequn.is_digit(ch[12]) }} and {{ kequn.is_digit(ch[19]) }}
            then try_strptime({{ v }}, '%Y-%m-%d %H:%M:%S')
        when strlen({{ v }}) = 15 and {{ ch[9] }} = ' '
            and {{ kequn.is_digit(ch[8]) }} and {{ kequn.is_digit(ch[10]) }} and {{ kequn.is_digit('right(' ~ v ~ ', 1)') }}
            then try_strptime({{ v }}, '%Y%m%d %H%M%S')
        when {{ ch[11] }} = 'T' and {{ kequn.is_digit(ch[19]) }}
            then {{ dbt.dateadd('minute', '480 - ' ~ offset_minutes, "try_strptime(substr(" ~ v ~ ", 1, 19), '%Y-%m-%dT%H:%M:%S')") }}
    end
{%- endmacro %}

{#- Portable fallback: each layout is validated with its anchored pattern, then parsed. -#}
{% macro default__parse_local_timestamp(col) -%}
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
