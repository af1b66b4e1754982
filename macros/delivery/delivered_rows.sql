{#- The rows of a raw table as delivered, read in place from the extract (no copy): every
    contract column as text, plus lineage `_source_file` (path under the raw dir),
    `_row_in_file` (1-based), `_batch_id` (landing batch that first saw the file) and
    `_landed_at`. Used once per table, in the `source` CTE of its base model.

    `kequn land` / `kequn build` write $KEQUN_LANDING_DIR/_delivered.jsonl: one line per
    file of the manifest with its table, batch and the DuckDB SQL that reads it (a
    `read_csv` with the header landing checked, strict, or a `read_parquet` with
    `file_row_number`; kequn/landing.py, the one home of the reader, which the raw gate runs
    too). An incremental run reads only the files of batches above the model's watermark
    (the new day), a full build every file. No file for the table: a zero-row relation with
    the same columns. In a unit test, the mocked source. -#}
{% macro delivered_rows(table) -%}
    {{ return(adapter.dispatch('delivered_rows', 'kequn')(table)) }}
{%- endmacro %}

{% macro default__delivered_rows(table) -%}
    {%- set raw = source('brokerage', table) -%}
    {%- if '__dbt__cte__' in (raw | string) -%}
        {{ return('(select * from ' ~ raw ~ ')') }}
    {%- endif -%}
    {%- set parts = kequn.delivered_file_reads(table) -%}
    {%- if parts | length == 0 -%}
        {{ return('(' ~ kequn.no_delivered_rows(table) ~ ')') }}
    {%- endif -%}
    {{ return('(\n' ~ parts | join('\nunion all\n') ~ '\n)') }}
{%- endmacro %}

{#- The SQL of each file to read for `table` in this run (at execution only). -#}
{% macro delivered_file_reads(table) -%}
    {%- set listing = env_var('KEQUN_LANDING_DIR', '') ~ '/_delivered.jsonl' -%}
    {%- if not execute or env_var('KEQUN_LANDING_DIR', '') == '' -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set watermark = kequn.landed_batch_watermark() -%}
    {%- set query -%}
        select file, sql
        from read_json(
            '{{ listing | replace("'", "''") }}',
            format = 'newline_delimited',
            columns = {'table': 'varchar', 'batch_id': 'integer', 'file': 'varchar', 'sql': 'varchar'}
        )
        where "table" = '{{ table }}' and batch_id > {{ watermark }}
        order by file
    {%- endset -%}
    {%- set rows = run_query(query).rows -%}
    {%- set parts = [] -%}
    {%- for row in rows -%}
        {%- if row[1] is none -%}
            {{ exceptions.raise_compiler_error(
                table ~ ": file " ~ row[0] ~ " is GB18030 and was not transcoded by this build "
                ~ "(only new files are): rebuild with kequn build --full-refresh") }}
        {%- endif -%}
        {%- do parts.append(row[1]) -%}
    {%- endfor -%}
    {{ return(parts) }}
{%- endmacro %}

{#- A zero-row relation with the columns a delivered file of `table` yields (the contract's,
    from the `brokerage` source). -#}
{% macro no_delivered_rows(table) -%}
    {%- set node = graph.get('sources', {}).get('source.' ~ project_name ~ '.brokerage.' ~ table) -%}
    select
        {%- for column in (node.columns if node else []) %}
            cast(null as varchar) as {{ column }},
        {%- endfor %}
        cast(null as varchar) as _source_file,
        cast(null as bigint) as _row_in_file,
        cast(null as integer) as _batch_id,
        cast(null as varchar) as _landed_at
    where false
{%- endmacro %}
