{{ config(
    pre_hook="{{ kequn.delete_affected_partitions('base_brokerage__cash_transfers', 'transfer_id', 'cast(transferred_at as date)', 'transfer_date') }}",
    **kequn.partition_overwrite_config('transfer_date')
) }}
{#- Incremental by transfer_date. A nightly run rebuilds every transfer_date touched by a transfer_id
    seen in the landing batches above the table's greatest _batch_id (the dates of all its
    versions, valid or rejected, so a late cancellation or correction reaches the date the
    transfer sits on), from all landed versions of every transfer having a version on those
    dates; dedupe, cancellation and _superseded_rows are then those of a full build. -#}
{%- if is_incremental() %}
    {%- set partitions = kequn.versioned_partition_dates(
        ref('base_brokerage__cash_transfers'),
        'transfer_id',
        'cast(transferred_at as date)',
        kequn.landed_batch_watermark(),
    ) %}
    {%- set needed_dates = partitions | map('first') | list %}
    {%- set affected_dates = [] %}
    {%- for p in partitions if p[1] %}{% do affected_dates.append(p[0]) %}{% endfor %}
{%- endif %}

with

base as (

    select * from {{ ref('base_brokerage__cash_transfers') }}
    where {{ kequn.live_batches() }}

),

scoped as (

    select * from base
    {% if is_incremental() -%}
        -- every version of every transfer with a version on an affected date; rows whose
        -- time does not parse (rejected) are few and always read, for a cancellation
        where {{ kequn.in_dates('cast(transferred_at as date)', needed_dates) }} or transferred_at is null
    {%- endif %}

),

valid as (

    select * from scoped
    where _reject_reason is null

),

ranked as (

    select
        *,
        -- a re-delivered transfer: the later file wins
        row_number() over (
            partition by transfer_id
            order by _source_file desc, _row_in_file desc
        ) as _rank,
        count(*) over (partition by transfer_id) - 1 as _superseded_rows

    from valid

),

final as (

    select
        transfer_id,
        account_id,
        transferred_at,
        cast(transferred_at as date) as transfer_date,
        direction,
        amount,
        _superseded_rows,
        _source_file,
        _row_in_file,
        _batch_id

    from ranked
    where _rank = 1

)

select * from final
{% if is_incremental() %}
    -- whole affected dates only: a transfer read because it has a version on an affected
    -- date, whose winning version sits elsewhere, belongs to a partition left alone
    where {{ kequn.in_dates('transfer_date', affected_dates) }}
{% endif %}
