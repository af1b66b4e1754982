{#- History marts (one row per client per as-of date) are incremental by calendar month:
    `partition_month_end` is the month end of the month holding the row's as-of date, so
    the current as-of row (say 2025-11-26) sits in its month's partition and is replaced
    the next night (2025-11-27), and by the month end itself once the month is over.

    A nightly run restates every month from the earliest month whose inputs changed:
    the month of the earliest date touched by any staging row landed after the committed
    landing batch (kequn_committed_batch; by hand, the mart's own watermark `_batch_id`:
    the greatest landing batch its inputs held when a partition was computed), and of the
    earliest partition a failed build restated above it, and never later than the month of the mart's latest partition (the
    previous as-of date's month, whose current row must go). Past month ends whose inputs
    did not change are kept as computed, with the rule_version they were computed under. -#}

{#- The staging models a history mart depends on, with the earliest as-of date a changed
    row of each can reach. Products and other undated master data restate everything. -#}
{% macro history_changed_inputs() -%}
    {{ return([
        {'model': 'stg_brokerage__trades', 'changed_date': 'trade_date'},
        {'model': 'stg_brokerage__cash_transfers', 'changed_date': 'transfer_date'},
        {'model': 'stg_brokerage__holdings', 'changed_date': 'snapshot_date'},
        {'model': 'stg_brokerage__balances', 'changed_date': 'snapshot_date'},
        {'model': 'stg_brokerage__app_events', 'changed_date': 'event_date'},
        {'model': 'stg_brokerage__fx_rates', 'changed_date': 'rate_date'},
        {'model': 'stg_brokerage__clients', 'changed_date': 'cast(updated_at as date)'},
        {'model': 'stg_brokerage__accounts', 'changed_date':
            'least(open_date, close_date, cast(updated_at as date))'},
        {'model': 'stg_brokerage__products', 'changed_date': "cast('1900-01-01' as date)"},
    ]) }}
{%- endmacro %}

{#- SQL: the greatest landing batch held by the history's inputs (the new watermark). -#}
{% macro history_landed_batch_id() -%}
    (
        select max(_batch_id) from (
            {%- for input in kequn.history_changed_inputs() %}
                select max(_batch_id) as _batch_id from {{ ref(input.model) }}
                {% if not loop.last %}union all{% endif %}
            {%- endfor %}
        ) as landed_batches
    )
{%- endmacro %}

{#- The first day of the earliest month to restate, as 'YYYY-MM-DD' (none when the model
    is built from scratch). Run at execution, so the filter reaches the scan as a literal.
    `history`: the history mart's relation (default `this`, for the mart itself). -#}
{% macro history_restate_from(history=none) -%}
    {%- if history is none -%}
        {%- if not (execute and is_incremental()) -%}
            {{ return(none) }}
        {%- endif -%}
        {%- set history = this -%}
    {%- endif -%}
    {%- set columns = adapter.get_columns_in_relation(history) | map(attribute='name') | list -%}
    {%- if 'partition_month_end' not in columns or '_batch_id' not in columns -%}
        {{ exceptions.raise_compiler_error(
            history ~ " was built before it became incremental by partition_month_end: rebuild "
            ~ "it once from scratch (kequn build --full-refresh, or dbt build --full-refresh -s "
            ~ history.identifier ~ ")") }}
    {%- endif -%}
    {%- set query -%}
        with

        watermark as (

            select
                {% if kequn.committed_batch() is not none -%}
                    {{ kequn.committed_batch() }} as batch_id,
                {%- else -%}
                    coalesce(max(_batch_id), 0) as batch_id,
                {%- endif %}
                max(partition_month_end) as last_partition_month_end
            from {{ history }}

        ),

        uncommitted as (

            -- the months a failed or killed build restated above the committed batch
            select min(partition_month_end) as first_month_end
            from {{ history }}
            where _batch_id > (select watermark.batch_id from watermark)

        ),

        changed as (

            {%- for input in kequn.history_changed_inputs() %}
                select min({{ input.changed_date }}) as changed_date
                from {{ ref(input.model) }}
                where _batch_id > (select watermark.batch_id from watermark)
                union all
            {%- endfor %}
            -- a cancellation rejected for another value cancels without winning: reach
            -- its trade through the trade_id
            select min(trades.trade_date) as changed_date
            from {{ ref('stg_brokerage__trades_rejected') }} as rejected
            inner join {{ ref('stg_brokerage__trades') }} as trades
                on rejected.trade_id = trades.trade_id
            where rejected._batch_id > (select watermark.batch_id from watermark)

        )

        select cast(least(
            (select min(changed_date) from changed),
            (select last_partition_month_end from watermark),
            (select date_trunc('month', first_month_end) from uncommitted)
        ) as date)
    {%- endset -%}
    {%- set first_date = run_query(query).columns[0].values()[0] -%}
    {%- if first_date is none -%}
        {{ return('1900-01-01') }}
    {%- endif -%}
    {{ return(first_date.strftime('%Y-%m-01')) }}
{%- endmacro %}

{#- The history marts read from the intermediate layer. -#}
{% macro history_marts() -%}
    {{ return(['client_features_monthly', 'client_group_membership_history',
               'client_lifecycle_monthly']) }}
{%- endmacro %}

{#- The first as-of date the intermediate layer computes client state for in this run, as
    'YYYY-MM-DD', or none for every date. A full build computes every month end; a nightly
    run only the months the history marts restate (the earliest of their
    history_restate_from) and the current as-of date, which is never earlier: the months
    before are kept in the history marts as computed, and nothing else reads them from the
    intermediate layer. Read by int_as_of_dates_spined (column is_computed), looked up by
    name: a ref would make the spine depend on the marts that depend on it. -#}
{% macro as_of_compute_from() -%}
    {%- if not execute or flags.FULL_REFRESH -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set starts = [] -%}
    {%- for name in kequn.history_marts() -%}
        {%- set node = graph.nodes.get('model.' ~ project_name ~ '.' ~ name) -%}
        {%- set history = adapter.get_relation(
            database=node.database, schema=node.schema, identifier=node.alias) if node else none -%}
        {%- if history is none or (node.config.get('full_refresh') is true) -%}
            {{ return(none) }}
        {%- endif -%}
        {%- do starts.append(kequn.history_restate_from(history)) -%}
    {%- endfor -%}
    {{ return(starts | min) }}
{%- endmacro %}
