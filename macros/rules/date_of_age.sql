{#- The date on which someone born on birth_date turns `years` (whole years, as
    age_in_years counts them): the birthday in that year, and 1 March for a 29 February
    birthday in a common year. -#}
{% macro date_of_age(birth_date, years) -%}
    {%- set birthday = 'cast(' ~ (dbt.dateadd('year', years, birth_date) | trim) ~ ' as date)' -%}
    (
        case
            when extract(day from {{ birthday }}) < extract(day from {{ birth_date }})
                then cast({{ dbt.dateadd('day', 1, birthday) | trim }} as date)
            else {{ birthday }}
        end
    )
{%- endmacro %}
