-- One row per individual client per recommended product at the as-of date: products of
-- the recommended types of the client's primary-group playbook whose risk rating is at or
-- below what the client may buy (its level, or R1 only without a valid assessment), ranked
-- round-robin over the playbook's product types, at most recommendations_per_client.
with

segments as (

    select * from {{ ref('client_segments') }}

),

products as (

    select * from {{ ref('int_products_classified') }}

),

playbook_items as (

    select * from {{ ref('rule_playbook_items') }}
    where item_kind = 'product_type'

),

suitability as (

    select * from {{ ref('rule_suitability') }}

),

parameters as (

    select * from {{ ref('int_rule_parameters_pivoted') }}

),

client_limits as (

    select
        segments.client_id,
        segments.as_of_date,
        segments.primary_group,
        segments.rule_version,
        suitability.max_product_risk_rank
    from segments
    inner join suitability
        on suitability.risk_level = case
            when segments.needs_risk_assessment then 'unassessed'
            else segments.risk_level
        end

),

offer_sets as (

    -- the ranked offer depends only on (primary group, allowed risk rank): rank it once
    select distinct
        primary_group,
        max_product_risk_rank
    from client_limits

),

offers as (

    select
        offer_sets.primary_group,
        offer_sets.max_product_risk_rank,
        products.product_code,
        products.product_type,
        products.risk_rating,
        row_number() over (
            partition by offer_sets.primary_group, offer_sets.max_product_risk_rank, products.product_type
            order by products.risk_rating_rank desc, products.product_code asc
        ) as rank_in_type,
        playbook_items.item_order
    from offer_sets
    inner join playbook_items
        on offer_sets.primary_group = playbook_items.group_code
    inner join products
        on
            playbook_items.item_value = products.product_type
            and offer_sets.max_product_risk_rank >= products.risk_rating_rank

),

ranked_offers as (

    select
        *,
        row_number() over (
            partition by primary_group, max_product_risk_rank
            order by rank_in_type, item_order
        ) as recommendation_rank
    from offers

),

final as (

    select
        cast(client_limits.client_id as {{ dbt.type_string() }}) as client_id,
        cast(client_limits.as_of_date as date) as as_of_date,
        cast(ranked_offers.product_code as {{ dbt.type_string() }}) as product_code,
        cast(ranked_offers.product_type as {{ dbt.type_string() }}) as product_type,
        cast(ranked_offers.risk_rating as {{ dbt.type_string() }}) as risk_rating,
        cast(ranked_offers.recommendation_rank as integer) as rank,
        cast(client_limits.primary_group as {{ dbt.type_string() }}) as primary_group,
        cast(client_limits.rule_version as {{ dbt.type_string() }}) as rule_version
    from client_limits
    inner join ranked_offers
        on
            client_limits.primary_group = ranked_offers.primary_group
            and client_limits.max_product_risk_rank = ranked_offers.max_product_risk_rank
    cross join parameters
    where ranked_offers.recommendation_rank <= parameters.recommendations_per_client

)

select * from final
