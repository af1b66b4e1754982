{#- dbt.dateadd on Spark: `timestampadd(<unit>, n, x)`, a timestamp like DuckDB's
    `x + interval` (date + interval is a timestamp there too), null when x is null.
    dbt-spark's own wraps x in assert_not_null, so a null date (an unparseable timestamp in
    parse_local_timestamp, a missing as-of date) raised instead of giving null. Month
    arithmetic clamps to the month's last day, as DuckDB's does (Jan 31 + 1 month = Feb 28). -#}
{% macro spark__dateadd(datepart, interval, from_date_or_timestamp) -%}
    timestampadd({{ datepart | upper }}, {{ interval }}, {{ from_date_or_timestamp }})
{%- endmacro %}
