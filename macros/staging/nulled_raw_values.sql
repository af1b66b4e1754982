{#- For master data (clients, accounts, products) a value that cannot be mapped or parsed is
    set to null rather than rejecting the row; this lists what was nulled, as
    `column=raw value` joined by '; ' (null when nothing was). `columns` holds column names
    (typed column `c`, raw text `c_raw`) or [c, typed_expression] pairs. Never pass PII. -#}
{% macro nulled_raw_values(columns) -%}
    nullif(concat_ws('; '
        {%- for c in columns %}
        {%- set name = c if c is string else c[0] %}
        {%- set typed = c if c is string else c[1] %}
        {%- if name in ['name', 'phone', 'id_number'] %}
        {{ exceptions.raise_compiler_error("nulled_raw_values on PII column " ~ name) }}
        {%- endif %},
        case when {{ name }}_raw is not null and {{ typed }} is null then '{{ name }}=' || {{ name }}_raw end
        {%- endfor %}
    ), '')
{%- endmacro %}
