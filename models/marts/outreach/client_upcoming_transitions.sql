-- One row per individual client at the current as-of date per upcoming transition
-- (client x transition_kind x target_code x direction): a segment the client enters or
-- leaves if nothing but time passes (age, lifecycle days) or if a measure moves a little
-- (assets, churn score), with the distance to the rule seeds' threshold. Only transitions
-- within the horizon: var transition_horizon_days for distances in days,
-- var transition_horizon_share of the threshold for CNY and points.
{%- set text = dbt.type_string() %}
{%- set money = 'decimal(18, 2)' %}
{%- set transition_columns = [
    'client_id', 'as_of_date', 'transition_kind', 'target_code', 'direction', 'from_code', 'to_code',
    'measure', 'current_value', 'threshold_value', 'distance', 'distance_unit', 'expected_date',
    'description_zh', 'description_en',
] %}

with

measures as (

    select * from {{ ref('int_client_measures_joined') }}
    where is_current

),

dimensions as (

    select * from {{ ref('int_client_dimensions_assigned') }}

),

churn_risks as (

    select * from {{ ref('int_client_churn_risks_scored') }}

),

age_gates as (

    select * from {{ ref('int_client_group_age_gates_evaluated') }}

),

rule_groups as (

    select * from {{ ref('rule_groups') }}

),

age_bands as (

    select * from {{ ref('rule_age_bands') }}

),

asset_tiers as (

    select * from {{ ref('rule_asset_tiers') }}

),

lifecycle_stages as (

    select * from {{ ref('rule_lifecycle_stages') }}

),

churn_levels as (

    select * from {{ ref('rule_churn_levels') }}

),

rule_versions as (

    select rule_version from {{ ref('int_rule_versions_hashed') }}

),

clients as (

    select
        measures.client_id,
        measures.as_of_date,
        measures.birth_date,
        measures.age,
        cast(measures.total_assets as {{ money }}) as total_assets,
        dimensions.age_band,
        dimensions.asset_tier,
        dimensions.lifecycle_stage,
        churn_risks.churn_risk_score,
        churn_risks.churn_risk_level
    from measures
    inner join dimensions
        on
            measures.client_id = dimensions.client_id
            and measures.as_of_date = dimensions.as_of_date
    left join churn_risks
        on
            measures.client_id = churn_risks.client_id
            and measures.as_of_date = churn_risks.as_of_date

),

-- age: a special group entered at its min_age or left after its max_age, the client's
-- other conditions holding; the next age band at its min_age
age_targets as (

    select
        age_gates.client_id,
        'age_group' as transition_kind,
        age_gates.group_code as target_code,
        case when clients.age < age_gates.min_age then 'enter' else 'leave' end as direction,
        case when clients.age >= age_gates.min_age or age_gates.min_age is null then age_gates.group_code end
            as from_code,
        case when clients.age < age_gates.min_age then age_gates.group_code end as to_code,
        case when clients.age < age_gates.min_age then age_gates.min_age else age_gates.max_age + 1 end
            as target_age,
        rule_groups.group_name_zh as target_name_zh
    from age_gates
    inner join clients
        on age_gates.client_id = clients.client_id
    inner join rule_groups
        on age_gates.group_code = rule_groups.group_code
    where
        age_gates.is_met_except_age
        and (
            clients.age < age_gates.min_age
            or (
                age_gates.max_age is not null
                and clients.age <= age_gates.max_age
                and (age_gates.min_age is null or clients.age >= age_gates.min_age)
            )
        )

    union all

    select
        clients.client_id,
        'age_band' as transition_kind,
        age_bands.band_code as target_code,
        'enter' as direction,
        clients.age_band as from_code,
        age_bands.band_code as to_code,
        age_bands.min_age as target_age,
        age_bands.band_name_zh as target_name_zh
    from clients
    inner join age_bands
        on
            not age_bands.is_fallback
            and clients.age < age_bands.min_age
    where not exists (
        select 1 from age_bands as nearer
        where
            not nearer.is_fallback
            and nearer.min_age > clients.age
            and nearer.min_age < age_bands.min_age
    )

),

age_transitions as (

    select
        age_targets.*,
        clients.as_of_date,
        'age' as measure,
        cast(clients.age as {{ money }}) as current_value,
        cast(age_targets.target_age as {{ money }}) as threshold_value,
        {{ date_of_age('clients.birth_date', 'age_targets.target_age') }} as expected_date,
        'days' as distance_unit
    from age_targets
    inner join clients
        on age_targets.client_id = clients.client_id

),

age_described as (

    select
        *,
        cast({{ days_between('as_of_date', 'expected_date') }} as {{ money }}) as distance,
        cast({{ days_between('as_of_date', 'expected_date') }} as {{ text }}) || '天后年满'
        || cast(cast(threshold_value as integer) as {{ text }}) || '岁，'
        || case
            when transition_kind = 'age_band' then '年龄阶段变为' || target_name_zh
            when direction = 'enter' then '进入' || target_name_zh
            else '离开' || target_name_zh
        end as description_zh,
        'turns ' || cast(cast(threshold_value as integer) as {{ text }}) || ' in '
        || cast({{ days_between('as_of_date', 'expected_date') }} as {{ text }}) || ' days: '
        || case
            when transition_kind = 'age_band' then 'age band ' || coalesce(from_code, '-') || ' -> ' || to_code
            when direction = 'enter' then 'joins ' || target_code
            else 'leaves ' || target_code
        end as description_en
    from age_transitions

),

-- assets: the next tier up (its min_assets) and the tier below (the current tier's min_assets)
tier_transitions as (

    select
        clients.client_id,
        clients.as_of_date,
        'asset_tier' as transition_kind,
        higher.tier_code as target_code,
        'up' as direction,
        clients.asset_tier as from_code,
        higher.tier_code as to_code,
        'total_assets' as measure,
        clients.total_assets as current_value,
        cast(higher.min_assets as {{ money }}) as threshold_value,
        cast(higher.min_assets - clients.total_assets as {{ money }}) as distance,
        higher.tier_name_zh as target_name_zh
    from clients
    inner join asset_tiers as current_tier
        on clients.asset_tier = current_tier.tier_code
    inner join asset_tiers as higher
        on current_tier.max_assets = higher.min_assets

    union all

    select
        clients.client_id,
        clients.as_of_date,
        'asset_tier' as transition_kind,
        lower_tier.tier_code as target_code,
        'down' as direction,
        clients.asset_tier as from_code,
        lower_tier.tier_code as to_code,
        'total_assets' as measure,
        clients.total_assets as current_value,
        cast(current_tier.min_assets as {{ money }}) as threshold_value,
        cast(clients.total_assets - current_tier.min_assets as {{ money }}) as distance,
        lower_tier.tier_name_zh as target_name_zh
    from clients
    inner join asset_tiers as current_tier
        on clients.asset_tier = current_tier.tier_code
    inner join asset_tiers as lower_tier
        on current_tier.min_assets = lower_tier.max_assets

),

tier_described as (

    select
        *,
        'CNY' as distance_unit,
        cast(null as date) as expected_date,
        case
            when direction = 'up'
                then
                    '资产' || cast(current_value as {{ text }}) || '元，距' || target_name_zh || '还差'
                    || cast(distance as {{ text }}) || '元'
            else
                '资产' || cast(current_value as {{ text }}) || '元，低于' || cast(threshold_value as {{ text }})
                || '元即降至' || target_name_zh
        end as description_zh,
        case
            when direction = 'up'
                then
                    'assets ' || cast(current_value as {{ text }}) || ' CNY: ' || cast(distance as {{ text }})
                    || ' CNY short of tier ' || to_code
            else
                'assets ' || cast(current_value as {{ text }}) || ' CNY: falls to tier ' || to_code
                || ' below ' || cast(threshold_value as {{ text }}) || ' CNY'
        end as description_en
    from tier_transitions

),

lifecycle_moves as (

    select * from {{ ref('int_client_lifecycle_moves_projected') }}

),

lifecycle_transitions as (

    select
        lifecycle_moves.client_id,
        clients.as_of_date,
        'lifecycle' as transition_kind,
        lifecycle_moves.to_code as target_code,
        'enter' as direction,
        lifecycle_moves.from_code,
        lifecycle_moves.to_code,
        lifecycle_moves.measure,
        cast(lifecycle_moves.current_days as {{ money }}) as current_value,
        cast(lifecycle_moves.threshold_days as {{ money }}) as threshold_value,
        cast(lifecycle_moves.distance_days as {{ money }}) as distance,
        'days' as distance_unit,
        cast({{ dbt.dateadd('day', 'lifecycle_moves.distance_days', 'clients.as_of_date') }} as date)
            as expected_date,
        cast(cast(lifecycle_moves.distance_days as integer) as {{ text }}) || '天后由' || from_stage.stage_name_zh || '变为'
        || to_stage.stage_name_zh || '（' || lifecycle_moves.measure || '='
        || cast(cast(lifecycle_moves.current_days as integer) as {{ text }}) || '，阈值'
        || cast(cast(lifecycle_moves.threshold_days as integer) as {{ text }}) || '天）' as description_zh,
        'becomes ' || lifecycle_moves.to_code || ' (from ' || lifecycle_moves.from_code || ') in '
        || cast(cast(lifecycle_moves.distance_days as integer) as {{ text }})
        || ' days: '
        || lifecycle_moves.measure
        || '='
        || cast(cast(lifecycle_moves.current_days as integer) as {{ text }}) || ', threshold '
        || cast(cast(lifecycle_moves.threshold_days as integer) as {{ text }}) || ' days' as description_en
    from lifecycle_moves
    inner join clients
        on lifecycle_moves.client_id = clients.client_id
    inner join lifecycle_stages as from_stage
        on lifecycle_moves.from_code = from_stage.stage_code
    inner join lifecycle_stages as to_stage
        on lifecycle_moves.to_code = to_stage.stage_code

),

-- churn: the next level up
churn_transitions as (

    select
        clients.client_id,
        clients.as_of_date,
        'churn_level' as transition_kind,
        next_level.level_code as target_code,
        'up' as direction,
        clients.churn_risk_level as from_code,
        next_level.level_code as to_code,
        'churn_risk_score' as measure,
        cast(clients.churn_risk_score as {{ money }}) as current_value,
        cast(next_level.min_score as {{ money }}) as threshold_value,
        cast(next_level.min_score - clients.churn_risk_score as {{ money }}) as distance,
        'points' as distance_unit,
        cast(null as date) as expected_date,
        '流失预警分' || cast(clients.churn_risk_score as {{ text }}) || '，再增'
        || cast(cast(next_level.min_score - clients.churn_risk_score as {{ money }}) as {{ text }})
        || '分即为' || next_level.level_name_zh || '风险' as description_zh,
        'churn score ' || cast(clients.churn_risk_score as {{ text }}) || ': '
        || cast(cast(next_level.min_score - clients.churn_risk_score as {{ money }}) as {{ text }})
        || ' points from ' || next_level.level_code || ' at '
        || cast(next_level.min_score as {{ text }}) as description_en
    from clients
    inner join churn_levels as next_level
        on clients.churn_risk_score < next_level.min_score
    where
        clients.churn_risk_score is not null
        and not exists (
            select 1 from churn_levels as nearer
            where
                nearer.min_score > clients.churn_risk_score
                and nearer.min_score < next_level.min_score
        )

),

unioned as (

    {%- for transitions in ['age_described', 'tier_described', 'lifecycle_transitions', 'churn_transitions'] %}
        select {{ transition_columns | join(', ') }} from {{ transitions }}
        {% if not loop.last %}union all{% endif %}
    {%- endfor %}

),

within_horizon as (

    select *
    from unioned
    where
        (
            distance_unit = 'days'
            and distance <= {{ var('transition_horizon_days') }}
        )
        or (
            distance_unit != 'days'
            and distance <= {{ var('transition_horizon_share') }} * threshold_value
        )

),

final as (

    select
        cast(within_horizon.client_id as {{ text }}) as client_id,
        cast(within_horizon.as_of_date as date) as as_of_date,
        cast(within_horizon.transition_kind as {{ text }}) as transition_kind,
        cast(within_horizon.target_code as {{ text }}) as target_code,
        cast(within_horizon.direction as {{ text }}) as direction,
        cast(within_horizon.from_code as {{ text }}) as from_code,
        cast(within_horizon.to_code as {{ text }}) as to_code,
        cast(within_horizon.measure as {{ text }}) as measure,
        cast(within_horizon.current_value as {{ money }}) as current_value,
        cast(within_horizon.threshold_value as {{ money }}) as threshold_value,
        cast(within_horizon.distance as {{ money }}) as distance,
        cast(within_horizon.distance_unit as {{ text }}) as distance_unit,
        cast(within_horizon.expected_date as date) as expected_date,
        cast(within_horizon.description_zh as {{ text }}) as description_zh,
        cast(within_horizon.description_en as {{ text }}) as description_en,
        cast(rule_versions.rule_version as {{ text }}) as rule_version
    from within_horizon
    cross join rule_versions

)

select * from final
