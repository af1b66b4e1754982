{#- Postgres cannot hash- or merge-join `is not distinct from`: a join on it is a nested
    loop (the in-file conflict join of base_brokerage__trades ran over 17 min at scale 1
    and was cancelled). Two plain equalities say the same and are hash-joinable: both null
    or neither, and equal as text when not null (a key's text is its value: ids, dates and
    timestamps). -#}
{% macro postgres__same_or_both_null(a, b) -%}
    ({{ a }} is null) = ({{ b }} is null)
        and coalesce(cast({{ a }} as text), '') = coalesce(cast({{ b }} as text), '')
{%- endmacro %}
