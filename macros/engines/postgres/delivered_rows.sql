{#- Postgres: the rows of raw.<table>, which kequn/engines/pg_load.py COPYed from the
    delivered files (Postgres cannot read files in place): every contract column as text
    and the same lineage as DuckDB's in-place read, `_landed_at` as DuckDB's text
    ('YYYY-MM-DD HH:MM:SS', UTC) and `_batch_id` an integer. An incremental run reads only
    the batches above the model's watermark, as on DuckDB. In a unit test, the mocked source. -#}
{% macro postgres__delivered_rows(table) -%}
    {%- set raw = source('brokerage', table) -%}
    {%- if '__dbt__cte__' in (raw | string) -%}
        {{ return('(select * from ' ~ raw ~ ')') }}
    {%- endif -%}
    {%- set node = graph.get('sources', {}).get('source.' ~ project_name ~ '.brokerage.' ~ table) -%}
    {%- set columns = node.columns if node else [] -%}
    {%- set query -%}
        (
            select
                {%- for column in columns %}
                    raw_rows.{{ adapter.quote(column) }},
                {%- endfor %}
                raw_rows._source_file,
                raw_rows._row_in_file,
                cast(raw_rows._batch_id as integer) as _batch_id,
                to_char(raw_rows._landed_at at time zone 'UTC', 'YYYY-MM-DD HH24:MI:SS') as _landed_at
            from {{ raw }} as raw_rows
            where raw_rows._batch_id > {{ kequn.landed_batch_watermark() }}
        )
    {%- endset -%}
    {{ return(query) }}
{%- endmacro %}
