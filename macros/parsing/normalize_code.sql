{#- The lookup key of a raw code: trimmed, lower case, every space (also the full-width
    space U+3000) removed. The seed's raw_value column holds keys in this form. -#}
{% macro code_lookup_key(col) -%}
    lower(replace(replace({{ blank_to_null(col) }}, ' ', ''), '　', ''))
{%- endmacro %}

{#- Map a raw code to its canonical code through seeds/mappings/code_mappings.csv
    (domain, raw_value, code). English, Chinese, digit codes, any case, stray spaces.
    Null for a blank value and for a value the seed does not know: staging compares
    with blank_to_null(col) to tell the two apart. A scalar lookup against the seed (no
    entity join); `col` must not be named domain, raw_value or code. -#}
{% macro normalize_code(col, domain) -%}
    (
        select mapping.code
        from {{ ref('code_mappings') }} as mapping
        where mapping.domain = '{{ domain }}' and mapping.raw_value = {{ kequn.code_lookup_key(col) }}
    )
{%- endmacro %}
