-- Suitability is law (投资者适当性): no recommended product is rated above what the client
-- may buy - its level C1..C5 maps to R1..R5; without a valid assessment R1 only. The rank
-- is read from the rating text here, independently of the model. Returns violations.
with

recommendations as (

    select * from {{ ref('client_product_recommendations') }}

),

segments as (

    select * from {{ ref('client_segments') }}

)

select
    recommendations.client_id,
    recommendations.product_code,
    recommendations.risk_rating,
    segments.risk_level,
    segments.needs_risk_assessment
from recommendations
left join segments
    on recommendations.client_id = segments.client_id
where
    segments.client_id is null
    or recommendations.risk_rating is null
    or cast(substr(recommendations.risk_rating, 2, 1) as integer)
    > case
        when segments.needs_risk_assessment or segments.risk_level is null then 1
        else cast(substr(segments.risk_level, 2, 1) as integer)
    end
