{#- Where the raw extract is on each engine (DECISIONS.md "Engines: what each needs").
    The `brokerage` source is defined once, in models/staging/brokerage/_brokerage__sources.yml;
    only its relation differs by engine:
    - DuckDB: unchanged (the base models read the delivered files in place through
      macros/delivery/delivered_rows.sql; the source stays the contract and lineage node);
    - Postgres: raw.<table>, loaded with COPY by kequn/engines/pg_load.py;
    - Spark: global_temp.<table>, the views on-run-start (spark_register_raw_files) creates
      over the delivered files in place. -#}
{% macro source(source_name, table_name) -%}
    {%- set relation = builtins.source(source_name, table_name) -%}
    {{- return(kequn.engine_source_relation(relation, source_name)) -}}
{%- endmacro %}

{% macro engine_source_relation(relation, source_name) -%}
    {{- return(adapter.dispatch('engine_source_relation', 'kequn')(relation, source_name)) -}}
{%- endmacro %}

{% macro default__engine_source_relation(relation, source_name) -%}
    {{- return(relation) -}}
{%- endmacro %}

{% macro postgres__engine_source_relation(relation, source_name) -%}
    {#- a unit test's mocked source is a CTE: no schema to move it to -#}
    {%- if source_name == 'brokerage' and '__dbt__cte__' not in relation.identifier -%}
        {{- return(relation.incorporate(path={'schema': 'raw'})) -}}
    {%- endif -%}
    {{- return(relation) -}}
{%- endmacro %}

{% macro spark__engine_source_relation(relation, source_name) -%}
    {#- a unit test's mocked source is a CTE of that name: keep it -#}
    {%- if source_name == 'brokerage' and '__dbt__cte__' not in relation.identifier -%}
        {{- return(relation.incorporate(path={'schema': 'global_temp'})) -}}
    {%- endif -%}
    {{- return(relation) -}}
{%- endmacro %}
