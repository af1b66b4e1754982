{#- Text to a date. Accepts YYYY-MM-DD, YYYYMMDD and YYYY/M/D (month and day of one or two
    digits); anything else, and impossible calendar dates (2025-02-30), give null. -#}
{% macro parse_date(col) -%}
    {{ return(adapter.dispatch('parse_date', 'kequn')(col)) }}
{%- endmacro %}

{#- One try_strptime per value, the format picked by cheap shape tests. DuckDB's strptime is
    lenient where the contract is not: it skips whitespace before and after the value (tabs,
    U+3000 too) and reads years of fewer than 4 digits and one-digit months and days
    (`2025-1-5`, `2025115`, `25/1/5`). So: the value must start and end with a digit (no
    whitespace left to skip); a length of 10 with `%Y-%m-%d` or 8 with `%Y%m%d` then leaves
    room only for 4-2-2 digits; for `%Y/%m/%d` the first `/` must be the 5th character (a
    4-digit year). tests/python/test_parsing_shapes.py checks this against the anchored
    regular expressions on fuzzed text. -#}
{% macro duckdb__parse_date(col) -%}
    {%- set v = 'trim(' ~ col ~ ')' -%}
    cast(case
        when not ({{ kequn.is_digit('left(' ~ v ~ ', 1)') }} and {{ kequn.is_digit('right(' ~ v ~ ', 1)') }}) then null
        when strpos({{ v }}, '/') = 5 then try_strptime({{ v }}, '%Y/%m/%d')
        when strlen({{ v }}) = 10 then try_strptime({{ v }}, '%Y-%m-%d')
        when strlen({{ v }}) = 8 then try_strptime({{ v }}, '%Y%m%d')
    end as date)
{%- endmacro %}

{#- Postgres-flavoured fallback: to_date is lenient about shape, so each format is validated
    with its anchored pattern first (and to_date does not reject 2025-02-30 on every engine;
    see DECISIONS.md). -#}
{% macro default__parse_date(col) -%}
    {%- set v = blank_to_null(col) -%}
    case
        when {{ kequn.matches_pattern(v, '[0-9]{4}-[0-9]{2}-[0-9]{2}') }} then to_date({{ v }}, 'YYYY-MM-DD')
        when {{ kequn.matches_pattern(v, '[0-9]{8}') }} then to_date({{ v }}, 'YYYYMMDD')
        when {{ kequn.matches_pattern(v, '[0-9]{4}/[0-9]{1,2}/[0-9]{1,2}') }} then to_date({{ v }}, 'YYYY/MM/DD')
    end
{%- endmacro %}

{#- True when `expr` is one ASCII digit (a one-character text between '0' and '9' in binary
    order; multi-byte characters sort above '9'). Null for null. -#}
{% macro is_digit(expr) -%}
    ({{ expr }} between '0' and '9')
{%- endmacro %}
