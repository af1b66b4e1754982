-- One row per raw table: how many delivered rows its base model read, every row of every
-- file (the left side of dq_reconciliation's raw_rows = loaded_rows + duplicate_rows +
-- rejected_rows). The base model holds each raw row once, reject or not; the delivered
-- files are not read a second time to count them.
{%- set tables = ['clients', 'accounts', 'products', 'fx_rates', 'holdings', 'balances',
                  'trades', 'cash_transfers', 'app_events'] %}

with

{% for t in tables %}
    {{ t }} as (

        select count(*) as raw_rows from {{ ref('base_brokerage__' ~ t) }}

    ),
{% endfor %}

final as (

    {% for t in tables %}
        select
            '{{ t }}' as table_name,
            raw_rows
        from {{ t }}
        {% if not loop.last %}union all{% endif %}
    {% endfor %}

)

select * from final
