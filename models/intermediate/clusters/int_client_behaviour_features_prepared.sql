-- One row per clustered client per behaviour feature at the current as-of date: the
-- candidate features, null-free and on comparable scales (shares 0-1, counts as
-- log(1 + n), flows as a signed log), kept when rule_cluster_features lists them.
-- Clustered clients: every individual client of client_segments whose lifecycle stage is
-- not in var cluster_excluded_lifecycle_stages, with its point-in-time features of
-- client_features_monthly at the same date.
{%- set candidate_features = [
    'cash_share',
    'fixed_income_share',
    'high_risk_share',
    'tech_share',
    'trade_intensity',
    'trade_trend',
    'net_flow',
    'login_intensity',
    'content_intensity',
    'learning_intensity',
    'online_trade_share',
    'assets_size',
] %}

with

segments as (

    select * from {{ ref('client_segments') }}

),

features as (

    select * from {{ ref('client_features_monthly') }}

),

feature_list as (

    select * from {{ ref('rule_cluster_features') }}

),

clustered_clients as (

    select
        features.*,
        segments.as_of_date
    from segments
    inner join features
        on
            segments.client_id = features.client_id
            and segments.as_of_date = features.month_end
    where {{ kequn.is_clustered_stage('segments.lifecycle_stage') }}

),

candidates as (

    select
        client_id,
        as_of_date,
        -- asset mix: shares of holdings are null without holdings (nothing in that class)
        case
            when coalesce(total_assets, 0) > 0
                then greatest(least(coalesce(cash_balance, 0) / total_assets, 1), 0)
            else 0
        end as cash_share,
        coalesce(fixed_income_share, 0) as fixed_income_share,
        coalesce(high_risk_share, 0) as high_risk_share,
        coalesce(tech_share, 0) as tech_share,
        -- trading: intensity over the medium window, trend = last short window against the
        -- average short window of the rest of the medium window (positive = picking up)
        ln(1 + coalesce(trades_90d, 0)) as trade_intensity,
        ln(1 + coalesce(trades_30d, 0))
        - ln(1 + greatest(coalesce(trades_90d, 0) - coalesce(trades_30d, 0), 0) / 2.0) as trade_trend,
        sign(coalesce(net_inflow_90d, 0)) * ln(1 + abs(coalesce(net_inflow_90d, 0))) as net_flow,
        -- digital engagement
        ln(1 + coalesce(logins_90d, 0)) as login_intensity,
        ln(1 + coalesce(content_views_90d, 0)) as content_intensity,
        ln(1 + coalesce(learning_events_90d, 0)) as learning_intensity,
        -- null without trades: no online trade
        coalesce(online_trade_share, 0) as online_trade_share,
        -- not in the default feature list (the tiers already split by size)
        ln(1 + greatest(coalesce(total_assets, 0), 0)) as assets_size
    from clustered_clients

),

unpivoted as (

    {% for feature in candidate_features -%}
        select
            client_id,
            as_of_date,
            '{{ feature }}' as feature_name,
            {{ feature }} as feature_value
        from candidates
        {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

final as (

    select
        cast(unpivoted.client_id as {{ dbt.type_string() }}) as client_id,
        cast(unpivoted.as_of_date as date) as as_of_date,
        cast(unpivoted.feature_name as {{ dbt.type_string() }}) as feature_name,
        cast(unpivoted.feature_value as double) as feature_value
    from unpivoted
    inner join feature_list
        on unpivoted.feature_name = feature_list.feature_name

)

select * from final
