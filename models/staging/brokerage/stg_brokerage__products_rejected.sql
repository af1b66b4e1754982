with

base as (

    select * from {{ ref('base_brokerage__products') }}
    where {{ kequn.live_batches() }}

),

final as (

    select
        -- the key(s) as delivered (raw text: they may not parse)
        product_code_raw as product_code,
        _reject_reason as reject_reason,
        _reject_column as reject_column,
        _reject_value as reject_value,
        _source_file,
        _row_in_file,
        _batch_id

    from base
    where _reject_reason is not null

)

select * from final
