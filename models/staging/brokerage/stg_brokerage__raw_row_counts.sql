-- One row per raw table: how many rows landing delivered (the left side of
-- dq_reconciliation's raw_rows = loaded_rows + duplicate_rows + rejected_rows).
{%- set tables = ['clients', 'accounts', 'products', 'fx_rates', 'holdings', 'balances',
                  'trades', 'cash_transfers', 'app_events'] %}

with

{% for t in tables %}
    {{ t }} as (

        select count(*) as raw_rows from {{ source('brokerage', t) }}

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
