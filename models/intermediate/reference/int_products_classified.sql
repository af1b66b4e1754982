-- One row per product_code: the product master with the measure classes of the spec
-- (high risk, fixed income, tech) decided by rule_parameters and rule_measure_lists.
with

products as (

    select * from {{ ref('stg_brokerage__products') }}

),

measure_lists as (

    select * from {{ ref('rule_measure_lists') }}

),

parameters as (

    select * from {{ ref('int_rule_parameters_pivoted') }}

),

classified as (

    select
        products.product_code,
        products.product_type,
        products.board,
        products.risk_rating,
        products.risk_rating_rank,
        products.issuer_industry,
        products.currency,
        coalesce(products.risk_rating_rank >= parameters.high_risk_min_rank, false) as is_high_risk,
        (
            fixed_income_types.list_value is not null
            or (
                fixed_income_wealth_types.list_value is not null
                and products.risk_rating_rank <= parameters.fixed_income_wealth_max_rank
            )
        ) as is_fixed_income,
        (tech_boards.list_value is not null or tech_industries.list_value is not null) as is_tech
    from products
    cross join parameters
    left join measure_lists as fixed_income_types
        on
            fixed_income_types.list_name = 'fixed_income_product_type'
            and products.product_type = fixed_income_types.list_value
    left join measure_lists as fixed_income_wealth_types
        on
            fixed_income_wealth_types.list_name = 'fixed_income_wealth_product_type'
            and products.product_type = fixed_income_wealth_types.list_value
    left join measure_lists as tech_boards
        on
            tech_boards.list_name = 'tech_board'
            and products.board = tech_boards.list_value
    left join measure_lists as tech_industries
        on
            tech_industries.list_name = 'tech_industry'
            and products.issuer_industry = tech_industries.list_value

)

select * from classified
