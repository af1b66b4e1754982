{#- Whole days from start_date to end_date (dbt.datediff by day, trimmed so the rendered SQL
    stays on one line). -#}
{% macro days_between(start_date, end_date) -%}
    {{- dbt.datediff(start_date, end_date, 'day') | trim -}}
{%- endmacro %}
