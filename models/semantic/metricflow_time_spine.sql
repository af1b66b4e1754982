-- One row per calendar day from 2000-01-01 to 2040-12-31: the time spine MetricFlow joins
-- metrics to (models/semantic/, `mf query`). The range only has to cover every date of the
-- marts; it is no business rule.
with

days as (

    {{ dbt.date_spine(
        'day',
        "cast('2000-01-01' as date)",
        "cast('2041-01-01' as date)"
    ) }}

),

final as (

    select cast(date_day as date) as date_day
    from days

)

select * from final
