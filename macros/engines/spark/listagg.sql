{#- dbt.listagg on Spark, honouring `order by`: dbt-spark's own ignores the clause (with a
    warning), so the rule fingerprints (macros/rules/rule_seed_fingerprint.sql,
    int_rule_versions_hashed) would depend on row order and differ from DuckDB's. Collect
    (sort key, value) pairs, sort them, keep the values. A single `order by <expr> [asc|desc]`. -#}
{% macro spark__listagg(measure, delimiter_text, order_by_clause, limit_num) -%}
    {%- if order_by_clause -%}
        {%- set clause = order_by_clause | trim -%}
        {%- set key = (clause[9:] if clause.lower().startswith('order by ') else clause) | trim -%}
        {%- set descending = key.lower().endswith(' desc') -%}
        {%- set key = key[:-5] if descending else (key[:-4] if key.lower().endswith(' asc') else key) -%}
        {%- set collected = "transform(array_sort(collect_list(named_struct('k', " ~ key ~ ", 'v', "
            ~ measure ~ "))), pair -> pair.v)" -%}
        {%- if descending -%}
            {%- set collected = 'reverse(' ~ collected ~ ')' -%}
        {%- endif -%}
    {%- else -%}
        {%- set collected = 'collect_list(' ~ measure ~ ')' -%}
    {%- endif -%}
    {%- if limit_num -%}
        {%- set collected = 'slice(' ~ collected ~ ', 1, ' ~ limit_num ~ ')' -%}
    {%- endif -%}
    array_join({{ collected }}, {{ delimiter_text }})
{%- endmacro %}
