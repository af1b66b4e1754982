-- One row per raw table per build: every raw row is loaded, a duplicate, or rejected;
-- conflicting_rows counts the rejects whose file contradicted itself on their key.
{%- set tables = ['clients', 'accounts', 'products', 'fx_rates', 'holdings', 'balances',
                  'trades', 'cash_transfers', 'app_events'] %}
{#- Loaded rows that name an unknown parent (informational: they stay loaded). -#}
{%- set orphan_conditions = {
    'accounts': "not exists (select 1 from clients as p where p.client_id = t.client_id)",
    'holdings': "not exists (select 1 from accounts as p where p.account_id = t.account_id)"
        ~ " or not exists (select 1 from products as p where p.product_code = t.product_code)",
    'balances': "not exists (select 1 from accounts as p where p.account_id = t.account_id)",
    'trades': "not exists (select 1 from accounts as p where p.account_id = t.account_id)"
        ~ " or not exists (select 1 from products as p where p.product_code = t.product_code)",
    'cash_transfers': "not exists (select 1 from accounts as p where p.account_id = t.account_id)",
    'app_events': "not exists (select 1 from clients as p where p.client_id = t.client_id)",
} %}

with

raw_row_counts as (

    select * from {{ ref('stg_brokerage__raw_row_counts') }}

),

{% for t in tables %}
    {{ t }} as (

        select * from {{ ref('stg_brokerage__' ~ t) }}

    ),

    {{ t }}_rejected as (

        select * from {{ ref('stg_brokerage__' ~ t ~ '_rejected') }}

    ),
{% endfor %}

staged_counts as (

    {% for t in tables %}
        select
            '{{ t }}' as table_name,
            count(*) as loaded_rows,
            coalesce(sum(t._superseded_rows), 0) as duplicate_rows,
            (select count(*) from {{ t }}_rejected) as rejected_rows,
            (
                select count(*) from {{ t }}_rejected
                where {{ t }}_rejected.reject_reason = 'conflicting_rows_in_file'
            ) as conflicting_rows,
            {% if t in orphan_conditions -%}
                coalesce(sum(case when {{ orphan_conditions[t] }} then 1 else 0 end), 0) as orphan_rows
            {%- else -%}
                0 as orphan_rows
            {%- endif %}
        from {{ t }} as t
        {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

final as (

    select
        cast(raw_row_counts.table_name as {{ dbt.type_string() }}) as table_name,
        cast(raw_row_counts.raw_rows as {{ dbt.type_bigint() }}) as raw_rows,
        cast(coalesce(staged_counts.loaded_rows, 0) as {{ dbt.type_bigint() }}) as loaded_rows,
        cast(coalesce(staged_counts.duplicate_rows, 0) as {{ dbt.type_bigint() }}) as duplicate_rows,
        cast(coalesce(staged_counts.rejected_rows, 0) as {{ dbt.type_bigint() }}) as rejected_rows,
        cast(coalesce(staged_counts.orphan_rows, 0) as {{ dbt.type_bigint() }}) as orphan_rows,
        cast(coalesce(staged_counts.conflicting_rows, 0) as {{ dbt.type_bigint() }}) as conflicting_rows,
        cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S") }}' as {{ dbt.type_timestamp() }}) as built_at

    from raw_row_counts
    left join staged_counts
        on raw_row_counts.table_name = staged_counts.table_name

)

select * from final
