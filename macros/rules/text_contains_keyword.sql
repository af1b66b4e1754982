{#- True when `keyword` occurs in `text` as a whole word, ignoring case: `VP` matches
    `VP Engineering` but `COO` does not match `Coordinator`. Characters outside a-z/0-9
    (spaces, punctuation, Chinese) delimit words, so Chinese keywords (`总经理`) match
    inside Chinese titles (`常务副总经理`). Keywords are plain words, not patterns. -#}
{% macro text_contains_keyword(text, keyword) -%}
    {{ return(adapter.dispatch('text_contains_keyword', 'kequn')(text, keyword)) }}
{%- endmacro %}

{% macro default__text_contains_keyword(text, keyword) -%}
    (lower({{ text }}) ~ ('(^|[^a-z0-9])' || lower({{ keyword }}) || '($|[^a-z0-9])'))
{%- endmacro %}

{% macro duckdb__text_contains_keyword(text, keyword) -%}
    regexp_matches(lower({{ text }}), '(^|[^a-z0-9])' || lower({{ keyword }}) || '($|[^a-z0-9])')
{%- endmacro %}

{% macro spark__text_contains_keyword(text, keyword) -%}
    (lower({{ text }}) rlike concat('(^|[^a-z0-9])', lower({{ keyword }}), '($|[^a-z0-9])'))
{%- endmacro %}
