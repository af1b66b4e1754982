{#- True when `birth_date` could be a living client's at `reference_date`: not after it, and
    an age of at most 120 whole years (born after the same day 121 years earlier). -#}
{% macro is_possible_birth_date(birth_date, reference_date) -%}
    ({{ birth_date }} <= {{ reference_date }} and {{ birth_date }} > {{ dbt.dateadd('year', -121, reference_date) }})
{%- endmacro %}
