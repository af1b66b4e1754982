{#- Keyed hash of a PII value: lowercase hex sha256 of (var pii_hash_key || value), where
    value is trimmed and upper-cased (ID numbers end in X or x). Null stays null. The key
    comes from var `pii_hash_key` (env KEQUN_PII_KEY); models that call this must be
    materialized as tables, so that no SQL text holding the key is kept in the warehouse. -#}
{% macro hash_pii(col) -%}
    {{ return(adapter.dispatch('hash_pii', 'kequn')(col)) }}
{%- endmacro %}

{% macro default__hash_pii(col) -%}
    {%- set v = "upper(" ~ blank_to_null(col) ~ ")" -%}
    case when {{ v }} is not null then encode(sha256(convert_to('{{ var("pii_hash_key") }}' || {{ v }}, 'UTF8')), 'hex') end
{%- endmacro %}

{% macro duckdb__hash_pii(col) -%}
    {%- set v = "upper(" ~ blank_to_null(col) ~ ")" -%}
    case when {{ v }} is not null then sha256('{{ var("pii_hash_key") }}' || {{ v }}) end
{%- endmacro %}

{% macro spark__hash_pii(col) -%}
    {%- set v = "upper(" ~ blank_to_null(col) ~ ")" -%}
    case when {{ v }} is not null then sha2(concat('{{ var("pii_hash_key") }}', {{ v }}), 256) end
{%- endmacro %}
