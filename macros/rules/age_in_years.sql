{#- Whole years between birth_date and at_date: the year difference, less one when the
    birthday has not yet come round in at_date's year. A 29 February birthday counts from
    1 March in common years. Portable: extract() exists on DuckDB, Postgres and Spark. -#}
{% macro age_in_years(birth_date, at_date) -%}
    (
        cast(extract(year from {{ at_date }}) as integer)
        - cast(extract(year from {{ birth_date }}) as integer)
        - case
            when cast(extract(month from {{ at_date }}) as integer) * 100
                + cast(extract(day from {{ at_date }}) as integer)
                < cast(extract(month from {{ birth_date }}) as integer) * 100
                + cast(extract(day from {{ birth_date }}) as integer)
                then 1
            else 0
        end
    )
{%- endmacro %}
