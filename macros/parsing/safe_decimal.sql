{#- Text to a decimal, null when it does not parse.
    Cleaned in place: surrounding and inner spaces, thousands separators (`,`), and the
    missing-value tokens N/A, NA, NULL, NONE, `-`, `--` (any case) which become null.
    Anything else that is not a number (`12..5`, `abc`, `1.2.3`) is null too: compare with
    blank_to_null(col) to tell "missing" from "unparseable". -#}
{% macro safe_decimal(col, type=none) -%}
    {%- set cleaned = "replace(replace(" ~ blank_to_null(col) ~ ", ',', ''), ' ', '')" -%}
    case
        when {{ kequn.is_missing_number(col) }} then null
        when {{ kequn.matches_pattern(cleaned, '[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]+)?') }}
            then {{ dbt.safe_cast(cleaned, type or dbt.type_numeric()) }}
    end
{%- endmacro %}

{#- Text to an integer: as safe_decimal, and null unless the value is a whole number. -#}
{% macro safe_integer(col) -%}
    {%- set cleaned = "replace(replace(" ~ blank_to_null(col) ~ ", ',', ''), ' ', '')" -%}
    case
        when {{ kequn.matches_pattern(cleaned, '[+-]?[0-9]+([.]0*)?') }}
            then {{ dbt.safe_cast(dbt.safe_cast(cleaned, dbt.type_numeric()), dbt.type_bigint()) }}
    end
{%- endmacro %}

{#- True when a number is missing: null, blank, or one of the tokens N/A, NA, NULL, NONE,
    `-`, `--` (any case). Rules use it to tell missing_value from unparseable_number. -#}
{% macro is_missing_number(col) -%}
    coalesce(upper({{ blank_to_null(col) }}) in ('N/A', 'NA', 'NULL', 'NONE', '-', '--'), true)
{%- endmacro %}
