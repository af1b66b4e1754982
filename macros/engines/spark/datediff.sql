{#- dbt.datediff on Spark, counting calendar boundaries as DuckDB's `date_diff` does, null
    when either side is null (dbt-spark's own wraps both in assert_not_null, which raises).
    Spark's `datediff(end, start)` takes the end first: end - start in days. -#}
{% macro spark__datediff(first_date, second_date, datepart) -%}
    {%- if datepart == 'day' -%}
        datediff(cast({{ second_date }} as date), cast({{ first_date }} as date))
    {%- elif datepart == 'month' -%}
        ((year({{ second_date }}) - year({{ first_date }})) * 12 + month({{ second_date }}) - month({{ first_date }}))
    {%- elif datepart == 'year' -%}
        (year({{ second_date }}) - year({{ first_date }}))
    {%- else -%}
        {{ exceptions.raise_compiler_error("kequn: datediff by " ~ datepart ~ " is not ported to Spark") }}
    {%- endif -%}
{%- endmacro %}
