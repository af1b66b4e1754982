{#- Nightly data tests check what the nightly build rebuilt; full builds check every row.

    A data test opts in with dbt's `where` config, naming one of two placeholders:
        config: {where: __rebuilt_partitions__}
        config: {where: "trade_id in (select trade_id from __rebuilt_rows__)"}
    `__rebuilt_partitions__` becomes the predicate "the row sits in a partition this build
    rebuilt", `__rebuilt_rows__` the rows of those partitions (for a key whose rows may sit
    in different partitions: every row sharing a key with a rebuilt row is then tested, so a
    stale copy left in an old partition still fails `unique`).

    The predicate is computed when the test runs, after its model was built, so it cannot ask
    the model's own watermark (kequn.landed_batch_watermark, history_restate_from: by then
    the model holds the new batches). It reads the rows' lineage instead: a rebuilt partition
    is one holding a row with `_batch_id` >= var `data_tests_since_batch`, the landing batch
    the nightly build landed (kequn build sets it; the raw and marts gates use the same
    batch). For models partitioned by `_batch_id` (base models, *_rejected) that is exactly
    the rows the run inserted; for date- and month-partitioned models, every partition whose
    rows changed through a new row (the partition list is built with kequn.partition_dates
    and kequn.in_dates, as the models build theirs, so the scan skips the other dates).

    No filter at all (every row tested) when the var is unset (a full build, CI, a plain
    `dbt build`), on --full-refresh, and for a model that is not incremental (rebuilt whole
    every night). The partition column is the model's incremental key (`unique_key`, or
    `partition_by` on Spark: kequn.partition_overwrite_config). -#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') -%}
    {%- if where and ('__rebuilt_partitions__' in where or '__rebuilt_rows__' in where) -%}
        {%- set scope = kequn.rebuilt_partitions_predicate(relation) -%}
        {%- if scope is none -%}
            {{ return(relation) }}
        {%- endif -%}
        {%- set rebuilt_rows = '(select * from ' ~ relation ~ ' where ' ~ scope ~ ') as rebuilt_rows' -%}
        {%- set where = where | replace('__rebuilt_rows__', rebuilt_rows)
            | replace('__rebuilt_partitions__', scope) -%}
    {%- endif -%}
    {%- if where -%}
        {{ return('(select * from ' ~ relation ~ ' where ' ~ where ~ ') dbt_subquery') }}
    {%- endif -%}
    {{ return(relation) }}
{%- endmacro %}

{#- The SQL predicate selecting the rows of the partitions this nightly build rebuilt in the
    model under test (`relation`), or none when every row is to be tested. -#}
{% macro rebuilt_partitions_predicate(relation) -%}
    {%- set since = var('data_tests_since_batch', none) -%}
    {%- if not execute or since is none or flags.FULL_REFRESH -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set node = graph.nodes.get(model.attached_node) -%}
    {%- if node is none or node.config.materialized != 'incremental' -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set partition = node.config.get('partition_by') or node.config.get('unique_key') -%}
    {%- if partition is not string -%}
        {%- set partition = partition | first -%}
    {%- endif -%}
    {%- set columns = adapter.get_columns_in_relation(relation) | map(attribute='name') | list -%}
    {%- if '_batch_id' not in columns or partition not in columns -%}
        {{ exceptions.raise_compiler_error(
            model.unique_id ~ ": `where: __rebuilt_partitions__` needs " ~ relation
            ~ " to hold `_batch_id` and its partition column `" ~ partition ~ "`; "
            ~ "remove the where config or add the lineage column") }}
    {%- endif -%}
    {%- set since = since | int -%}
    {%- if partition == '_batch_id' -%}
        {{ return('_batch_id >= ' ~ since) }}
    {%- endif -%}
    {%- set dates = kequn.partition_dates(
        'select distinct ' ~ partition ~ ' from ' ~ relation ~ ' where _batch_id >= ' ~ since
    ) | map('first') | list -%}
    {{ return(kequn.in_dates(partition, dates)) }}
{%- endmacro %}
