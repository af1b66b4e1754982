{#- Use the folder's schema name as is (staging, intermediate, marts, rules), not
    <target_schema>_<schema>: BI tools read `marts.client_segments` on every target.
    KEQUN_SCHEMA_SUFFIX (empty by default) is set only by the Postgres and Spark
    write–audit–publish (kequn/engines/*_publish.py): a build writes `marts__b<id>` and so
    on, and is published by renaming (Postgres) or by repointing views (Spark). -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}{{ env_var('KEQUN_SCHEMA_SUFFIX', '') }}
    {%- endif -%}
{%- endmacro %}
