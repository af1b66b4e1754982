{{ config(materialized='table') }}

-- One row per individual client per as-of date: the traditional dimensions - asset tier,
-- age band, trading frequency band and lifecycle stage (first matching stage by priority,
-- the fallback stage otherwise) - from the bands and thresholds in seeds/rules.
with

measures as (

    select * from {{ ref('int_client_measures_joined') }}

),

parameters as (

    select * from {{ ref('int_rule_parameters_pivoted') }}

),

asset_tiers as (

    select * from {{ ref('rule_asset_tiers') }}

),

age_bands as (

    select * from {{ ref('rule_age_bands') }}

),

frequency_bands as (

    select * from {{ ref('rule_trading_frequency_bands') }}

),

lifecycle_stages as (

    select * from {{ ref('rule_lifecycle_stages') }}

),

closed_statuses as (

    select list_value as client_status
    from {{ ref('rule_measure_lists') }}
    where list_name = 'closed_status'

),

stage_conditions as (

    select
        measures.client_id,
        measures.as_of_date,
        (closed_statuses.client_status is not null or measures.is_every_account_closed) as is_closed,
        (
            (
                measures.peak_total_assets >= parameters.lifecycle_funded_min_assets
                or measures.prior_total_assets >= parameters.lifecycle_funded_min_assets
                or measures.transfers_in_to_date >= parameters.lifecycle_funded_min_assets
            )
            and measures.total_assets < parameters.lifecycle_churned_max_assets
            and coalesce(measures.days_since_last_trade >= parameters.lifecycle_churned_min_days_without_trade, true)
        ) as is_churned,
        (
            measures.days_since_open > parameters.lifecycle_zombie_min_days_since_open
            and measures.first_trade_date is null
            and measures.total_assets < parameters.lifecycle_zombie_max_assets
        ) as is_zombie,
        measures.days_since_open <= parameters.lifecycle_new_max_days_since_open as is_new,
        (
            coalesce(measures.days_since_last_trade >= parameters.lifecycle_dormant_min_days_inactive, true)
            and coalesce(measures.days_since_last_login >= parameters.lifecycle_dormant_min_days_inactive, true)
        ) as is_dormant
    from measures
    cross join parameters
    left join closed_statuses
        on measures.client_status = closed_statuses.client_status

),

stage_matches as (

    {%- for stage in ['closed', 'churned', 'zombie', 'new', 'dormant'] %}
        select
            client_id,
            as_of_date,
            '{{ stage }}' as stage_code
        from stage_conditions
        where is_{{ stage }}
        {% if not loop.last %}union all{% endif %}
    {%- endfor %}

    union all

    select
        stage_conditions.client_id,
        stage_conditions.as_of_date,
        lifecycle_stages.stage_code
    from stage_conditions
    cross join lifecycle_stages
    where lifecycle_stages.is_fallback

),

first_stage as (

    select
        stage_matches.client_id,
        stage_matches.as_of_date,
        stage_matches.stage_code,
        row_number() over (
            partition by stage_matches.client_id, stage_matches.as_of_date
            order by lifecycle_stages.is_fallback, lifecycle_stages.priority
        ) as stage_rank
    from stage_matches
    inner join lifecycle_stages
        on stage_matches.stage_code = lifecycle_stages.stage_code

),

assigned as (

    select
        measures.client_id,
        measures.as_of_date,
        asset_tiers.tier_code as asset_tier,
        coalesce(age_bands.band_code, fallback_age_band.band_code) as age_band,
        frequency_bands.band_code as trading_frequency,
        first_stage.stage_code as lifecycle_stage
    from measures
    left join asset_tiers
        on
            (asset_tiers.min_assets is null or measures.total_assets >= asset_tiers.min_assets)
            and (asset_tiers.max_assets is null or measures.total_assets < asset_tiers.max_assets)
    left join age_bands
        on
            not age_bands.is_fallback
            and measures.age >= age_bands.min_age
            and (age_bands.max_age is null or measures.age <= age_bands.max_age)
    left join age_bands as fallback_age_band
        on fallback_age_band.is_fallback
    left join frequency_bands
        on
            measures.trades_90d >= frequency_bands.min_trades
            and (frequency_bands.max_trades is null or measures.trades_90d <= frequency_bands.max_trades)
    left join first_stage
        on
            measures.client_id = first_stage.client_id
            and measures.as_of_date = first_stage.as_of_date
            and first_stage.stage_rank = 1

)

select * from assigned
