{#- Trimmed text, or null when the value is null, empty or only spaces. -#}
{% macro blank_to_null(col) -%}
    nullif(trim({{ col }}), '')
{%- endmacro %}
