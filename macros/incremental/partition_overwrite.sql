{#- History that accumulates is kept as incremental models that overwrite whole partitions
    (a day, a month end, a landing batch): every run recomputes each partition the new
    landing batches touch from *all* landed rows of that partition, and replaces it.

    One config, two engines (see ../shared/notes/toolchain.md):
    - Spark without Delta has no merge: `insert_overwrite` with `partition_by` (never
      insert_overwrite without it: on a model reading its own table that empties it);
    - DuckDB (and Postgres): `delete+insert` keyed on the same partition column, which
      deletes every partition present in the new rows and inserts them — the same
      semantics.
    Use: {{ config(**kequn.partition_overwrite_config('trade_date')) }} -#}
{% macro partition_overwrite_config(partition_column) -%}
    {%- if target.type in ('spark', 'databricks') -%}
        {{ return({
            'materialized': 'incremental',
            'incremental_strategy': 'insert_overwrite',
            'partition_by': [partition_column],
            'file_format': 'parquet',
            'on_schema_change': 'fail',
        }) }}
    {%- else -%}
        {%- set config = {
            'materialized': 'incremental',
            'incremental_strategy': 'delete+insert',
            'unique_key': partition_column,
            'on_schema_change': 'fail',
        } -%}
        {%- if partition_column == '_batch_id' -%}
            {%- do config.update({'pre_hook': ['{{ kequn.delete_uncommitted_batches() }}']}) -%}
        {%- endif -%}
        {{ return(config) }}
    {%- endif -%}
{%- endmacro %}

{#- The committed landing state, passed by `kequn build` as dbt vars:
    `kequn_committed_batch`, the greatest landing batch the last *published* build read,
    and `kequn_build_batch`, the batch this build landed. Nightly builds update the
    warehouse's working database in place (kequn/publish.py), so a failed or killed build
    may have left rows of its batch (never published, and never reused: the retry lands
    its files again under a new batch) in the incremental models. Keyed to the committed
    state, every incremental model recomputes everything above it — the new batch plus
    whatever a failed build wrote — so a retry replays instead of restoring a backup.
    Without the vars (`dbt build` by hand) both are none and the models fall back to
    their own greatest batch. -#}
{% macro committed_batch() -%}
    {%- set value = var('kequn_committed_batch', none) -%}
    {{ return(none if value is none or value == '' else value | int) }}
{%- endmacro %}

{% macro build_batch() -%}
    {%- set value = var('kequn_build_batch', none) -%}
    {{ return(none if value is none or value == '' else value | int) }}
{%- endmacro %}

{#- SQL predicate: the rows of landing batches that are live, i.e. committed or landed by
    this build; rows of a failed build's batch (above the committed one, below this
    build's) are never read downstream. The one filter where each staging model reads
    its base model. True outside `kequn build` (no vars). -#}
{% macro live_batches(column='_batch_id') -%}
    {%- set committed = kequn.committed_batch() -%}
    {%- set current = kequn.build_batch() -%}
    {%- if committed is none or current is none or current <= committed + 1 -%}
        true
    {%- else -%}
        ({{ column }} <= {{ committed }} or {{ column }} >= {{ current }})
    {%- endif -%}
{%- endmacro %}

{#- Pre-hook of the models partitioned by landing batch (base models, rejects): in a
    nightly build, delete every batch above the committed one first. delete+insert only
    replaces the batches present in the new rows, so a failed build's batch would
    otherwise stay (counted twice once its files land again). -#}
{% macro delete_uncommitted_batches() -%}
    {%- set committed = kequn.committed_batch() -%}
    {%- if execute and is_incremental() and committed is not none
           and target.type not in ('spark', 'databricks') -%}
        delete from {{ this }} where _batch_id > {{ committed }}
    {%- else -%}
        select 1 as nothing_to_delete
    {%- endif -%}
{%- endmacro %}

{#- SQL: `select distinct <expr>` over the rows of this incremental model that a build
    above the committed batch wrote (a failed or killed build's partitions), so a nightly
    run recomputes them too; none when there is no committed batch (or no table yet). -#}
{% macro uncommitted_values(expr) -%}
    {%- set committed = kequn.committed_batch() -%}
    {%- if committed is none or not is_incremental() -%}
        {{ return(none) }}
    {%- endif -%}
    {{ return('select distinct ' ~ expr ~ ' from ' ~ this ~ ' where _batch_id > ' ~ committed) }}
{%- endmacro %}

{#- The committed landing batch (kequn_committed_batch; without it, the greatest landing
    batch already in this incremental model; 0 on a first or full build), as a literal, so the scan of the landed Parquet can skip older batches' row
    groups by their statistics. Landed files never change, so every raw row of a batch
    above it is new to the model. -#}
{% macro landed_batch_watermark(column='_batch_id') -%}
    {%- if execute and is_incremental() -%}
        {%- if kequn.committed_batch() is not none -%}
            {{ return(kequn.committed_batch()) }}
        {%- endif -%}
        {%- set result = run_query('select coalesce(max(' ~ column ~ '), 0) from ' ~ this) -%}
        {{ return(result.columns[0].values()[0] | int) }}
    {%- else -%}
        {{ return(0) }}
    {%- endif -%}
{%- endmacro %}

{#- Run a query returning one date column (at execution only) and give its distinct
    non-null values as 'YYYY-MM-DD' strings, with the second column (a boolean, when the
    query has one) as a flag: [(date, flag), ...]. Literal partition lists let the filter
    on a stored table be applied right at the scan (zone maps skip the other dates). -#}
{% macro partition_dates(query) -%}
    {%- if not execute -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set table = run_query(query) -%}
    {%- set out = [] -%}
    {%- for row in table.rows if row[0] is not none -%}
        {%- do out.append([row[0].strftime('%Y-%m-%d'), (row[1] if row | length > 1 else true)]) -%}
    {%- endfor -%}
    {{ return(out | sort) }}
{%- endmacro %}

{#- `column in (date literals)`; false when the list is empty (nothing to rebuild). -#}
{% macro in_dates(column, dates) -%}
    {%- if dates | length == 0 -%}
        (1 = 0)
    {%- else -%}
        {{ column }} in (
            {%- for d in dates %}cast('{{ d }}' as date){% if not loop.last %}, {% endif %}{% endfor -%}
        )
    {%- endif -%}
{%- endmacro %}

{#- For a table keyed by an id whose versions may sit on different partition dates (trades,
    transfers): the dates of every landed version of every id seen in the new batches
    (`affected`: the partitions to rebuild), plus the dates of every version of every id
    having a version on an affected date (`needed`: what to read so each of those ids has
    all its versions). Returns [(date, is_affected), ...] over the needed dates. -#}
{% macro versioned_partition_dates(landed, id_expr, date_expr, watermark) -%}
    {%- set held_ids = kequn.uncommitted_values(id_expr) -%}
    {%- set held_dates = kequn.uncommitted_values(date_expr) -%}
    {%- set query -%}
        with

        landed as (

            select
                {{ id_expr }} as id,
                {{ date_expr }} as partition_date,
                _batch_id
            from {{ landed }}

        ),

        touched as (

            select distinct id from landed
            where _batch_id > {{ watermark }} and id is not null
            {%- if held_ids %}
            union
            -- ids a failed build wrote above the committed batch: back to their versions
            {{ held_ids }}
            {%- endif %}

        ),

        affected as (

            select distinct landed.partition_date
            from landed
            inner join touched on landed.id = touched.id
            where landed.partition_date is not null
            {%- if held_dates %}
            union
            -- dates a failed build wrote above the committed batch
            {{ held_dates }}
            {%- endif %}

        ),

        candidates as (

            select distinct landed.id
            from landed
            inner join affected on landed.partition_date = affected.partition_date
            where landed.id is not null

        ),

        needed as (

            select distinct landed.partition_date
            from landed
            inner join candidates on landed.id = candidates.id
            where landed.partition_date is not null

        )

        select
            needed.partition_date,
            affected.partition_date is not null as is_affected
        from needed
        left join affected on needed.partition_date = affected.partition_date
    {%- endset -%}
    {{ return(kequn.partition_dates(query)) }}
{%- endmacro %}

{#- The partitions a nightly run rebuilds for a staging model: the distinct values of its
    typed partition column in the base model's rows of batches above the committed one
    (landed_batch_watermark), and in the model's own rows a failed build wrote above it, as 'YYYY-MM-DD' strings (rows whose date does not parse are rejects and
    give none). Empty outside incremental runs. -#}
{% macro landed_partition_dates(base_model, date_column) -%}
    {%- if not is_incremental() -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set query -%}
        select distinct {{ date_column }} as partition_date
        from {{ ref(base_model) }}
        where _batch_id > {{ kequn.landed_batch_watermark() }}
        {%- set held = kequn.uncommitted_values(date_column) %}
        {%- if held %}
        union
        -- dates a failed build wrote above the committed batch
        {{ held }}
        {%- endif %}
    {%- endset -%}
    {{ return(kequn.partition_dates(query) | map('first') | list) }}
{%- endmacro %}

{#- A pre-hook for a staging model keyed by an id whose versions may sit on different
    dates (trades, cash_transfers): in a nightly run, delete every affected partition
    (versioned_partition_dates) before the model's delete+insert. delete+insert deletes
    only the partitions present in the new rows, so a date whose only row moved to another
    date (a trade re-sent with a new trade_time) would keep its stale row; deleting every
    affected date first empties it (issue 14). Outside incremental runs, and on Spark
    (insert_overwrite, no delete without Delta), it does nothing. -#}
{% macro delete_affected_partitions(base_model, id_expr, date_expr, partition_column) -%}
    {%- if execute and is_incremental() and target.type not in ('spark', 'databricks') -%}
        {%- set partitions = kequn.versioned_partition_dates(
            ref(base_model), id_expr, date_expr, kequn.landed_batch_watermark()) -%}
        {%- set affected = [] -%}
        {%- for p in partitions if p[1] %}{% do affected.append(p[0]) %}{% endfor -%}
        delete from {{ this }} where {{ kequn.in_dates(partition_column, affected) }}
    {%- else -%}
        select 1 as nothing_to_delete
    {%- endif -%}
{%- endmacro %}
