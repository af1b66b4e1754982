{{ config(**kequn.partition_overwrite_config('snapshot_date')) }}
{#- Incremental by snapshot_date (part of the grain key). A nightly run finds the snapshot
    dates that have a row in the landing batches above the table's greatest _batch_id and
    rebuilds each of them from all landed rows of that date, so the later-file-wins dedupe
    and _superseded_rows are the same as in a full build. -#}
{%- set affected_dates = kequn.landed_partition_dates('base_brokerage__balances', 'snapshot_date') %}

with

base as (

    select * from {{ ref('base_brokerage__balances') }}
    where {{ kequn.live_batches() }}

),

scoped as (

    select * from base
    {% if is_incremental() -%}
        where {{ kequn.in_dates('snapshot_date', affected_dates) }}
    {%- endif %}

),

valid as (

    select * from scoped
    where _reject_reason is null

),

ranked as (

    select
        *,
        -- a re-delivered snapshot row: the later file wins
        row_number() over (
            partition by snapshot_date, account_id
            order by _source_file desc, _row_in_file desc
        ) as _rank,
        count(*) over (partition by snapshot_date, account_id) - 1 as _superseded_rows

    from valid

),

final as (

    select
        snapshot_date,
        account_id,
        cash_balance,
        margin_debt,
        _superseded_rows,
        _source_file,
        _row_in_file,
        _batch_id

    from ranked
    where _rank = 1

)

select * from final
