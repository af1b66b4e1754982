{% macro postgres__type_double() -%}
    double precision
{%- endmacro %}
