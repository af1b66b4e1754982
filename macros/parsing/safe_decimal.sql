{#- Text to a decimal, null when it does not parse.
    Cleaned in place: surrounding and inner spaces, and the missing-value tokens N/A, NA,
    NULL, NONE, `-`, `--` (any case) which become null. Thousands separators (`,`) are read
    only where the grouping is well formed (`1,234,567.89`: one to three digits, then groups
    of exactly three); any other comma (`1,2,3`, `2248,084.30`, `1,234,5`) makes the value
    unparseable, as does anything else that is not a number (`12..5`, `abc`, `1.2.3`).
    Compare with blank_to_null(col) to tell "missing" from "unparseable". -#}
{% macro safe_decimal(col, type=none) -%}
    {{ return(adapter.dispatch('safe_decimal', 'kequn')(col, type)) }}
{%- endmacro %}

{% macro default__safe_decimal(col, type=none) -%}
    {%- set cleaned = kequn.number_text(col) -%}
    case
        when {{ kequn.is_missing_number(col) }} then null
        when {{ kequn.matches_pattern(cleaned, kequn.number_pattern()) }}
            then {{ dbt.safe_cast(cleaned, type or dbt.type_numeric()) }}
        when {{ kequn.matches_pattern(cleaned, kequn.grouped_number_pattern()) }}
            then {{ dbt.safe_cast("replace(" ~ cleaned ~ ", ',', '')", type or dbt.type_numeric()) }}
    end
{%- endmacro %}

{#- Text to an integer: as safe_decimal, and null unless the value is a whole number. -#}
{% macro safe_integer(col) -%}
    {%- set cleaned = kequn.number_text(col) -%}
    {%- set whole = '[+-]?[0-9]+([.]0*)?' -%}
    {%- set grouped_whole = '[+-]?[0-9]{1,3}(,[0-9]{3})+([.]0*)?' -%}
    case
        when {{ kequn.matches_pattern(cleaned, whole) }}
            then {{ dbt.safe_cast(dbt.safe_cast(cleaned, dbt.type_numeric()), dbt.type_bigint()) }}
        when {{ kequn.matches_pattern(cleaned, grouped_whole) }}
            then {{ dbt.safe_cast(dbt.safe_cast("replace(" ~ cleaned ~ ", ',', '')", dbt.type_numeric()), dbt.type_bigint()) }}
    end
{%- endmacro %}

{#- A number's text with blanks as null and every space removed (commas kept: whether they
    are thousands separators is for the patterns below to say). -#}
{% macro number_text(col) -%}
    replace({{ blank_to_null(col) }}, ' ', '')
{%- endmacro %}

{#- A plain number: optional sign, digits with an optional decimal part, optional exponent. -#}
{% macro number_pattern() -%}
    {{- return('[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]+)?') -}}
{%- endmacro %}

{#- A number with well-formed thousands separators: 1 to 3 leading digits, then one or more
    groups of `,` and exactly 3 digits, then an optional decimal part (1,234 and
    -2,248,084.30, never 1,2,3 or 2248,084.30). -#}
{% macro grouped_number_pattern() -%}
    {{- return('[+-]?[0-9]{1,3}(,[0-9]{3})+([.][0-9]*)?') -}}
{%- endmacro %}

{#- True when a number is missing: null, blank, or one of the tokens N/A, NA, NULL, NONE,
    `-`, `--` (any case). Rules use it to tell missing_value from unparseable_number. -#}
{% macro is_missing_number(col) -%}
    coalesce(upper({{ blank_to_null(col) }}) in ('N/A', 'NA', 'NULL', 'NONE', '-', '--'), true)
{%- endmacro %}
