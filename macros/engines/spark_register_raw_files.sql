{#- on-run-start: make the delivered extract readable on Spark, in place (no copy).
    For each contract table (the `brokerage` source's tables and columns), every file of
    KEQUN_RAW_DIR/<table>/ (.csv, .csv.gz, .parquet; Spark lists them) becomes a global
    temporary view of its own (CSV: header, multiLine, every column a string), so each
    file keeps its own header: extra columns are tolerated, and a missing contract column
    is refused naming table, file and column. global_temp.<table> unions them with the
    contract columns as strings and the lineage columns (_source_file under the raw dir,
    _row_in_file in file order: a multiLine CSV is one split, read in order; _batch_id 1,
    as Spark keeps no load manifest yet, see DECISIONS.md). A no-op on other engines. -#}
{% macro spark_register_raw_files() -%}
    {{- return(adapter.dispatch('spark_register_raw_files', 'kequn')()) -}}
{%- endmacro %}

{% macro default__spark_register_raw_files() -%}
    {{- return('') -}}
{%- endmacro %}

{% macro spark__spark_register_raw_files() -%}
    {%- if not execute -%}{{- return('') -}}{%- endif -%}
    {%- set raw_dir = env_var('KEQUN_RAW_DIR', 'tests/fixtures/handwritten_extract').rstrip('/') -%}
    {%- for node in graph.sources.values() if node.source_name == 'brokerage' -%}
        {%- set table = node.name -%}
        {%- set columns = node.columns.keys() | list -%}
        {%- set listed = run_query(
            "select path from binaryFile.`" ~ raw_dir ~ "/" ~ table ~ "` order by path") -%}
        {%- set selects = [] -%}
        {%- for row in listed.rows -%}
            {%- set path = row[0] -%}
            {%- set name = path.split('/')[-1] | lower -%}
            {%- set rel = table ~ '/' ~ path.split('/')[-1] -%}
            {%- set view = 'raw_file_' ~ table ~ '_' ~ loop.index -%}
            {%- if name.endswith('.parquet') -%}
                {%- do run_query("create or replace global temporary view " ~ view
                    ~ " using parquet options (path '" ~ path ~ "')") -%}
            {%- elif name.endswith('.csv') or name.endswith('.csv.gz') -%}
                {%- do run_query("create or replace global temporary view " ~ view
                    ~ " using csv options (path '" ~ path ~ "', header 'true', multiLine 'true',"
                    ~ " encoding 'UTF-8', mode 'FAILFAST')") -%}
            {%- else -%}
                {%- do log("spark raw files: " ~ rel ~ " not read (not .csv, .csv.gz or .parquet)", info=true) -%}
                {%- continue -%}
            {%- endif -%}
            {%- set have = {} -%}
            {%- for col in run_query("describe global_temp." ~ view).rows -%}
                {%- do have.update({(col[0] | trim | lower): col[0]}) -%}
            {%- endfor -%}
            {%- for column in columns if column not in have -%}
                {{- exceptions.raise_compiler_error(table ~ ": file " ~ rel
                    ~ " lacks contract column " ~ column
                    ~ "; every contract column must be present (values may be blank)") -}}
            {%- endfor -%}
            {%- set cols = [] -%}
            {%- for column in columns -%}
                {%- do cols.append("cast(`" ~ have[column] ~ "` as string) as " ~ column) -%}
            {%- endfor -%}
            {%- do selects.append("select " ~ cols | join(", ") ~ ", '" ~ rel ~ "' as _source_file,"
                ~ " row_number() over (order by monotonically_increasing_id()) as _row_in_file,"
                ~ " cast(1 as bigint) as _batch_id, current_timestamp() as _landed_at"
                ~ " from global_temp." ~ view) -%}
        {%- endfor -%}
        {%- if not selects -%}
            {%- set cols = [] -%}
            {%- for column in columns -%}{%- do cols.append("cast(null as string) as " ~ column) -%}{%- endfor -%}
            {%- do selects.append("select " ~ cols | join(", ") ~ ", cast(null as string) as _source_file,"
                ~ " cast(null as bigint) as _row_in_file, cast(null as bigint) as _batch_id,"
                ~ " cast(null as timestamp) as _landed_at where false") -%}
        {%- endif -%}
        {%- do run_query("create or replace global temporary view " ~ table ~ " as "
            ~ selects | join(" union all ")) -%}
    {%- endfor -%}
    {{- return('') -}}
{%- endmacro %}
