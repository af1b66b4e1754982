{#- The rows of a raw table as delivered, on Spark: the global temporary view
    `global_temp.<table>` that on-run-start made over the delivered files in place
    (macros/engines/spark_register_raw_files.sql), with the same columns and lineage as
    DuckDB's reader. Landed-batch watermark as on DuckDB (every file is batch 1 on Spark
    until it has a load manifest, so a second run reads nothing new). In a unit test, the
    mocked source. -#}
{% macro spark__delivered_rows(table) -%}
    {%- set raw = source('brokerage', table) -%}
    {%- if '__dbt__cte__' in (raw | string) -%}
        {{ return('(select * from ' ~ raw ~ ')') }}
    {%- endif -%}
    {{ return('(select * from ' ~ raw ~ ' where _batch_id > ' ~ kequn.landed_batch_watermark() ~ ')') }}
{%- endmacro %}
