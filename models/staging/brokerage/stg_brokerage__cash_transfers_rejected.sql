{{ config(**kequn.partition_overwrite_config('_batch_id')) }}
{#- Incremental by landing batch: one row per rejected raw row, and landed files never
    change, so a nightly run adds the new batches' rejects and leaves the rest. -#}
{%- set watermark = kequn.landed_batch_watermark() %}

with

base as (

    select * from {{ ref('base_brokerage__cash_transfers') }}
    where {{ kequn.live_batches() }}

),

final as (

    select
        -- the key(s) as delivered (raw text: they may not parse)
        transfer_id_raw as transfer_id,
        _reject_reason as reject_reason,
        _reject_column as reject_column,
        _reject_value as reject_value,
        _source_file,
        _row_in_file,
        _batch_id

    from base
    where
        _reject_reason is not null
        -- landing batches start at 1; the watermark is 0 outside incremental runs
        and _batch_id > {{ watermark }}

)

select * from final
