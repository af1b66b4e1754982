{#- Postgres runs normalize_code's scalar subquery once per value, as a sequential scan of
    code_mappings without an index: twelve per clients row, which kept
    base_brokerage__clients busy for over 7 min at scale 1 (100 k clients). -#}
{% macro postgres__lookup_index(relation, columns) -%}
    create index if not exists {{ relation.identifier }}__lookup
        on {{ relation }} ({{ columns | join(', ') }})
{%- endmacro %}
