{#- One seed value as a Spark SQL literal (see spark__load_csv_rows). -#}
{% macro spark_seed_literal(value) -%}
    {%- if value is none -%}
        null
    {%- elif value is sameas true or value is sameas false -%}
        {{ 'true' if value else 'false' }}
    {%- elif value is number -%}
        {{ value }}
    {%- elif value is string -%}
        '{{ value | replace("\\", "\\\\") | replace("'", "\\'") }}'
    {%- else -%}
        '{{ value.isoformat() }}'
    {%- endif -%}
{%- endmacro %}
