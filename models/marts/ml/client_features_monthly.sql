{{ config(**kequn.partition_overwrite_config('partition_month_end')) }}
{#- Incremental by calendar month (kequn.history_restate_from): a nightly run recomputes the
    months from the earliest one whose inputs changed, and keeps the past ones. -#}
-- depends_on: {{ ref('stg_brokerage__trades_rejected') }}
{%- set restate_from = kequn.history_restate_from() %}
-- One row per individual client per month end (and per the current as-of date): every
-- core measure of the spec as of that date, computed only from data up to it
-- (point-in-time), for machine-learning users.
with

measures as (

    select * from {{ ref('int_client_measures_joined') }}
    {% if restate_from -%}
        where as_of_date >= cast('{{ restate_from }}' as date)
    {%- endif %}

),

rule_versions as (

    select rule_version from {{ ref('int_rule_versions_hashed') }}

),

final as (

    select
        cast(measures.client_id as {{ dbt.type_string() }}) as client_id,
        cast(measures.as_of_date as date) as month_end,
        cast(measures.is_month_end as boolean) as is_month_end,
        cast(measures.snapshot_date as date) as snapshot_date,
        cast(measures.age as integer) as age,
        cast(measures.gender as {{ dbt.type_string() }}) as gender,
        cast(measures.days_since_open as integer) as days_since_open,
        cast(measures.needs_risk_assessment as boolean) as needs_risk_assessment,
        cast(measures.total_assets as decimal(18, 2)) as total_assets,
        cast(measures.holdings_value as decimal(18, 2)) as holdings_value,
        cast(measures.cash_balance as decimal(18, 2)) as cash_balance,
        cast(measures.margin_debt as decimal(18, 2)) as margin_debt,
        cast(measures.net_assets as decimal(18, 2)) as net_assets,
        cast(measures.liability_ratio as {{ kequn.type_double() }}) as liability_ratio,
        cast(measures.high_risk_share as {{ kequn.type_double() }}) as high_risk_share,
        cast(measures.fixed_income_share as {{ kequn.type_double() }}) as fixed_income_share,
        cast(measures.tech_share as {{ kequn.type_double() }}) as tech_share,
        cast(measures.restricted_value as decimal(18, 2)) as restricted_value,
        cast(measures.trades_30d as bigint) as trades_30d,
        cast(measures.trades_90d as bigint) as trades_90d,
        cast(measures.trades_365d as bigint) as trades_365d,
        cast(measures.trade_amount_90d as decimal(18, 2)) as trade_amount_90d,
        cast(measures.days_since_last_trade as integer) as days_since_last_trade,
        cast(measures.first_trade_date as date) as first_trade_date,
        cast(measures.online_trade_share as {{ kequn.type_double() }}) as online_trade_share,
        cast(measures.net_inflow_30d as decimal(18, 2)) as net_inflow_30d,
        cast(measures.net_inflow_90d as decimal(18, 2)) as net_inflow_90d,
        cast(measures.logins_30d as bigint) as logins_30d,
        cast(measures.logins_90d as bigint) as logins_90d,
        cast(measures.content_views_90d as bigint) as content_views_90d,
        cast(measures.learning_events_90d as bigint) as learning_events_90d,
        cast(measures.assets_change_90d as {{ kequn.type_double() }}) as assets_change_90d,
        cast(rule_versions.rule_version as {{ dbt.type_string() }}) as rule_version,
        cast({{ dbt.last_day('measures.as_of_date', 'month') }} as date) as partition_month_end,
        cast({{ kequn.history_landed_batch_id() }} as integer) as _batch_id
    from measures
    cross join rule_versions

)

select * from final
