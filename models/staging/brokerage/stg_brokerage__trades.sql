{{ config(
    pre_hook="{{ kequn.delete_affected_partitions('base_brokerage__trades', 'trade_id', 'cast(traded_at as date)', 'trade_date') }}",
    **kequn.partition_overwrite_config('trade_date')
) }}
{#- Incremental by trade_date. A nightly run rebuilds every trade_date touched by a trade_id
    seen in the landing batches above the table's greatest _batch_id (the dates of all its
    versions, valid or rejected, so a late cancellation or correction reaches the date the
    trade sits on), from all landed versions of every trade having a version on those
    dates; dedupe, cancellation and _superseded_rows are then those of a full build. -#}
{%- if is_incremental() %}
    {%- set partitions = kequn.versioned_partition_dates(
        ref('base_brokerage__trades'),
        'trade_id',
        'cast(traded_at as date)',
        kequn.landed_batch_watermark(),
    ) %}
    {%- set needed_dates = partitions | map('first') | list %}
    {%- set affected_dates = [] %}
    {%- for p in partitions if p[1] %}{% do affected_dates.append(p[0]) %}{% endfor %}
{%- endif %}

with

base as (

    select * from {{ ref('base_brokerage__trades') }}
    where {{ kequn.live_batches() }}

),

scoped as (

    select * from base
    {% if is_incremental() -%}
        -- every version of every trade with a version on an affected date; rows whose
        -- time does not parse (rejected) are few and always read, for a cancellation
        where {{ kequn.in_dates('cast(traded_at as date)', needed_dates) }} or traded_at is null
    {%- endif %}

),

valid as (

    select * from scoped
    where _reject_reason is null

),

cancellations as (

    -- a cancellation takes effect even when its row is rejected for another value (it
    -- stays in the rejects too): a cancelled trade must never count as filled
    select distinct trade_id
    from scoped
    where status = 'cancelled' and trade_id is not null

),

ranked as (

    select
        *,
        -- latest version wins; ties (and re-deliveries) go to the later file
        row_number() over (
            partition by trade_id
            order by updated_at desc nulls last, _source_file desc, _row_in_file desc
        ) as _rank,
        count(*) over (partition by trade_id) - 1 as _superseded_rows,
        -- a cancelled version cancels the trade, whatever version comes after it
        trade_id in (select cancellations.trade_id from cancellations) as has_cancelled_version

    from valid

),

final as (

    select
        trade_id,
        account_id,
        product_code,
        traded_at,
        cast(traded_at as date) as trade_date,
        side,
        quantity,
        price,
        amount_local,
        fee_local,
        channel,
        case when has_cancelled_version then 'cancelled' else status end as status,
        not has_cancelled_version and status = 'filled' as is_filled,
        updated_at,
        _superseded_rows,
        _source_file,
        _row_in_file,
        _batch_id

    from ranked
    where _rank = 1

)

select * from final
{% if is_incremental() %}
    -- whole affected dates only: a trade read because it has a version on an affected
    -- date, whose winning version sits elsewhere, belongs to a partition left alone
    where {{ kequn.in_dates('trade_date', affected_dates) }}
{% endif %}
