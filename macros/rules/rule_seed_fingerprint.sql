{#- One row (seed_name, seed_hash): the md5 of a seed's rows, each row rendered as its
    columns' text joined by '|' (null as ''), rows sorted. Any edit to the CSV that reaches
    the table changes the hash. Columns are read from the warehouse at run time, so a new
    column in a seed is hashed without touching this macro. -#}
{% macro rule_seed_fingerprint(seed_relation) -%}
    {%- set columns = adapter.get_columns_in_relation(seed_relation) if execute else [] -%}
    {%- set parts = [] -%}
    {%- for column in columns | sort(attribute='name') -%}
        {%- if not loop.first %}{% do parts.append("'|'") %}{% endif -%}
        {%- do parts.append("coalesce(cast(" ~ adapter.quote(column.name) ~ " as " ~ dbt.type_string() ~ "), '')") -%}
    {%- endfor -%}
    {%- if not parts %}{% do parts.append("''") %}{% endif %}
    select
        '{{ seed_relation.identifier }}' as seed_name,
        {{ dbt.hash("coalesce(" ~ dbt.listagg('row_text', "'\\n'", 'order by row_text') ~ ", '')") }} as seed_hash
    from (
        select {{ dbt.concat(parts) }} as row_text
        from {{ seed_relation }}
    ) as seed_rows
{%- endmacro %}
