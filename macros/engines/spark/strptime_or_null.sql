{#- strptime_or_null on Spark: `try_to_timestamp` with the layout's Spark pattern (null when
    the text is no such timestamp; ANSI mode makes `to_timestamp` raise). -#}
{% macro spark__strptime_or_null(expr, layout) -%}
    {%- set formats = {'iso_space': 'yyyy-MM-dd HH:mm:ss', 'compact': 'yyyyMMdd HHmmss', 'iso_t': "yyyy-MM-dd'T'HH:mm:ss"} -%}
    try_to_timestamp({{ expr }}, "{{ formats[layout] }}")
{%- endmacro %}
