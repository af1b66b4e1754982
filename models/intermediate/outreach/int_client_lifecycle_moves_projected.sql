-- One row per individual client at the current as-of date per lifecycle stage that time
-- alone would bring (if assets, trades and logins stay as they are), with the measure that
-- ages into it, its value, the threshold (rule_parameters, lifecycle_*) and the days until
-- it happens (the nearer when two conditions lead to one stage). The stage's conditions
-- are those of int_client_dimensions_assigned.
with

measures as (

    select * from {{ ref('int_client_measures_joined') }}
    where is_current

),

dimensions as (

    select * from {{ ref('int_client_dimensions_assigned') }}

),

parameters as (

    select * from {{ ref('int_rule_parameters_pivoted') }}

),

lifecycle_stages as (

    select * from {{ ref('rule_lifecycle_stages') }}

),

clients as (

    select
        measures.client_id,
        measures.as_of_date,
        measures.total_assets,
        measures.days_since_open,
        measures.first_trade_date,
        measures.days_since_last_trade,
        measures.days_since_last_login,
        (
            measures.peak_total_assets >= parameters.lifecycle_funded_min_assets
            or measures.prior_total_assets >= parameters.lifecycle_funded_min_assets
            or measures.transfers_in_to_date >= parameters.lifecycle_funded_min_assets
        ) as was_funded,
        dimensions.lifecycle_stage,
        lifecycle_stages.priority as stage_priority
    from measures
    inner join dimensions
        on
            measures.client_id = dimensions.client_id
            and measures.as_of_date = dimensions.as_of_date
    inner join lifecycle_stages
        on dimensions.lifecycle_stage = lifecycle_stages.stage_code
    cross join parameters

),

-- lifecycle: stages that time alone brings, if assets, trades and logins stay as they are
lifecycle_moves as (

    -- never traded, little money, not yet old enough to be a zombie
    select
        clients.client_id,
        'zombie' as to_code,
        'days_since_open' as measure,
        clients.days_since_open as current_days,
        parameters.lifecycle_zombie_min_days_since_open as threshold_days,
        parameters.lifecycle_zombie_min_days_since_open + 1 - clients.days_since_open as distance_days
    from clients
    cross join parameters
    inner join lifecycle_stages as target_stage
        on target_stage.stage_code = 'zombie'
    where
        clients.stage_priority > target_stage.priority
        and clients.first_trade_date is null
        and clients.total_assets < parameters.lifecycle_zombie_max_assets
        and clients.days_since_open <= parameters.lifecycle_zombie_min_days_since_open

    union all

    -- a new client stops being new: dormant, churned or active by then
    select
        clients.client_id,
        case
            when
                clients.was_funded
                and clients.total_assets < parameters.lifecycle_churned_max_assets
                and coalesce(
                    clients.days_since_last_trade + parameters.lifecycle_new_max_days_since_open
                    + 1 - clients.days_since_open >= parameters.lifecycle_churned_min_days_without_trade,
                    true
                )
                then 'churned'
            when
                coalesce(
                    clients.days_since_last_trade + parameters.lifecycle_new_max_days_since_open
                    + 1 - clients.days_since_open >= parameters.lifecycle_dormant_min_days_inactive,
                    true
                )
                and coalesce(
                    clients.days_since_last_login + parameters.lifecycle_new_max_days_since_open
                    + 1 - clients.days_since_open >= parameters.lifecycle_dormant_min_days_inactive,
                    true
                )
                then 'dormant'
            else fallback_stage.stage_code
        end as to_code,
        'days_since_open' as measure,
        clients.days_since_open as current_days,
        parameters.lifecycle_new_max_days_since_open as threshold_days,
        parameters.lifecycle_new_max_days_since_open + 1 - clients.days_since_open as distance_days
    from clients
    cross join parameters
    inner join lifecycle_stages as fallback_stage
        on fallback_stage.is_fallback
    where
        clients.lifecycle_stage = 'new'
        and not (
            clients.first_trade_date is null
            and clients.total_assets < parameters.lifecycle_zombie_max_assets
            and clients.days_since_open <= parameters.lifecycle_zombie_min_days_since_open
        )

    union all

    -- an active client whose last trade and login both age past the dormant threshold
    select
        clients.client_id,
        'dormant' as to_code,
        'days_since_last_activity' as measure,
        least(
            coalesce(clients.days_since_last_trade, parameters.lifecycle_dormant_min_days_inactive),
            coalesce(clients.days_since_last_login, parameters.lifecycle_dormant_min_days_inactive)
        ) as current_days,
        parameters.lifecycle_dormant_min_days_inactive as threshold_days,
        parameters.lifecycle_dormant_min_days_inactive - least(
            coalesce(clients.days_since_last_trade, parameters.lifecycle_dormant_min_days_inactive),
            coalesce(clients.days_since_last_login, parameters.lifecycle_dormant_min_days_inactive)
        ) as distance_days
    from clients
    cross join parameters
    inner join lifecycle_stages as fallback_stage
        on clients.lifecycle_stage = fallback_stage.stage_code
    where fallback_stage.is_fallback

    union all

    -- funded, nearly empty, and the last trade ages past the churned threshold
    select
        clients.client_id,
        'churned' as to_code,
        'days_since_last_trade' as measure,
        clients.days_since_last_trade as current_days,
        parameters.lifecycle_churned_min_days_without_trade as threshold_days,
        parameters.lifecycle_churned_min_days_without_trade - clients.days_since_last_trade as distance_days
    from clients
    cross join parameters
    inner join lifecycle_stages as target_stage
        on target_stage.stage_code = 'churned'
    where
        clients.stage_priority > target_stage.priority
        and clients.was_funded
        and clients.total_assets < parameters.lifecycle_churned_max_assets
        and clients.days_since_last_trade < parameters.lifecycle_churned_min_days_without_trade

),

projected as (

    select
        lifecycle_moves.client_id,
        clients.as_of_date,
        clients.lifecycle_stage as from_code,
        lifecycle_moves.to_code,
        lifecycle_moves.measure,
        lifecycle_moves.current_days,
        lifecycle_moves.threshold_days,
        lifecycle_moves.distance_days,
        -- two routes to one stage (a new client that churns when it stops being new, and
        -- by its last trade ageing): the nearer counts
        row_number() over (
            partition by lifecycle_moves.client_id, lifecycle_moves.to_code
            order by lifecycle_moves.distance_days, lifecycle_moves.measure
        ) as route_rank
    from lifecycle_moves
    inner join clients
        on lifecycle_moves.client_id = clients.client_id
    where lifecycle_moves.to_code != clients.lifecycle_stage

),

nearest as (

    select
        client_id,
        as_of_date,
        from_code,
        to_code,
        measure,
        current_days,
        threshold_days,
        distance_days
    from projected
    where route_rank = 1

)

select * from nearest
