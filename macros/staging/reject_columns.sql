{#- The three reject columns of a base model from one ordered list of rules, so each rule
    is written once. `rules` is a list of [condition, reason, column]: the first rule whose
    condition is true decides; the row passes when none is. reject_value is the raw text of
    `column` (its `<column>_raw` field in the typed CTE). Never name a PII column here. -#}
{% macro reject_columns(rules) -%}
    {%- for pii in ['name', 'phone', 'id_number'] -%}
        {%- for rule in rules if rule[2] == pii -%}
            {{ exceptions.raise_compiler_error("reject rule on PII column " ~ pii ~ ": rejects never hold PII") }}
        {%- endfor -%}
    {%- endfor -%}
    case
        {%- for rule in rules %}
        when {{ rule[0] }} then '{{ rule[1] }}'
        {%- endfor %}
    end as _reject_reason,
    case
        {%- for rule in rules %}
        when {{ rule[0] }} then '{{ rule[2] }}'
        {%- endfor %}
    end as _reject_column,
    case
        {%- for rule in rules %}
        when {{ rule[0] }} then {{ rule[2] }}_raw
        {%- endfor %}
    end as _reject_value
{%- endmacro %}
