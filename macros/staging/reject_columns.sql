{#- The reject columns of a base model from one ordered list of rules, so each rule is
    written once and evaluated once per row. `rules` is a list of [condition, reason,
    column]: the first rule whose condition is true decides; the row passes when none is.

    broken_rule(rules) is a lateral subquery for the FROM clause that evaluates the
    conditions once, in order, into `broken_rule.rule_index` (1-based; null when the row
    passes). reject_columns(rules) then reads `_reject_reason`, `_reject_column` and
    `_reject_value` (the raw text of `column`, its `<column>_raw` field) from that index:

        select typed.*, {{ reject_columns(rules) }}
        from typed
        {{ broken_rule(rules) }}

    Never name a PII column here: both macros refuse it. -#}
{% macro broken_rule(rules) -%}
    {%- do kequn._refuse_pii_rules(rules) -%}
    cross join lateral (
        select
            case
                {%- for rule in rules %}
                when {{ rule[0] }} then {{ loop.index }}
                {%- endfor %}
            end as rule_index
    ) as broken_rule
{%- endmacro %}

{% macro reject_columns(rules) -%}
    {%- do kequn._refuse_pii_rules(rules) -%}
    case broken_rule.rule_index
        {%- for rule in rules %}
        when {{ loop.index }} then '{{ rule[1] }}'
        {%- endfor %}
    end as _reject_reason,
    case broken_rule.rule_index
        {%- for rule in rules %}
        when {{ loop.index }} then '{{ rule[2] }}'
        {%- endfor %}
    end as _reject_column,
    case broken_rule.rule_index
        {%- for rule in rules %}
        when {{ loop.index }} then {{ rule[2] }}_raw
        {%- endfor %}
    end as _reject_value
{%- endmacro %}

{% macro _refuse_pii_rules(rules) -%}
    {%- for pii in ['name', 'phone', 'id_number'] -%}
        {%- for rule in rules if rule[2] == pii -%}
            {{ exceptions.raise_compiler_error("reject rule on PII column " ~ pii ~ ": rejects never hold PII") }}
        {%- endfor -%}
    {%- endfor -%}
{%- endmacro %}
