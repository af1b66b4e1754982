{#- Use the folder's schema name as is (staging, intermediate, marts, rules), not
    <target_schema>_<schema>: BI tools read `marts.client_segments` on every target. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
