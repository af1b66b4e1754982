{#- Rows that contradict each other inside one delivery file (issue 14).

    The contract's grain is one row per key per delivery file: only a *later* file may
    repeat a key (a re-delivery, where the later file wins). Two rows of one file with one
    key and different values are a data error: nothing says which is right, so every row of
    such a key in that file is rejected as `conflicting_rows_in_file`. Rows repeated
    identically stay plain duplicates.
    Values are compared as typed (`1,234.50` and `1234.50` agree).

    Only rows that pass every other rule take part: a row broken otherwise is already set
    aside with its own reason, and the rows that pass are the ones staging would otherwise
    dedupe as re-deliveries, keeping one silently.

    Use in a base model, after the CTE that types the rows:
        {{ kequn.conflicting_rows_in_file_ctes('typed', keys, values, rules) }}
    which adds the CTEs `repeated_in_file` and `conflicts_in_file` (one row per conflicting
    file and key); the model's last CTE joins it once, by file and key, beside the rows
        from typed
        {{ kequn.join_conflicts_in_file('typed', keys) }}
        {{ broken_rule(rules + [[kequn.is_conflicting_in_file(), 'conflicting_rows_in_file', col]]) }}
    so the conflict is a column of the row when the rules are evaluated (a plain `case`
    per row, no subquery inside the rule index).
    A file is always landed whole in one batch, so an incremental base model that types the
    new batches finds every conflict of their files. -#}
{% macro conflicting_rows_in_file_ctes(relation, keys, values, rules) -%}
repeated_in_file as (

    -- keys repeated within one file (a cheap aggregate over the keys alone)
    select
        _source_file,
        {{ keys | join(',\n        ') }}
    from {{ relation }}
    group by
        _source_file,
        {{ keys | join(',\n        ') }}
    having count(*) > 1

),

conflicts_in_file as (

    -- of those, the keys whose rows passing every other rule disagree on a value (the
    -- rules run on the repeated rows only); named apart from the rows' own columns, beside
    -- which join_conflicts_in_file puts them
    select
        _source_file as _conflict_file,
        {%- for k in keys %}
        {{ k }} as _conflict_key_{{ loop.index }}{% if not loop.last %},{% endif %}
        {%- endfor %}
    from {{ relation }}
    where
        exists (
            select 1 from repeated_in_file
            where {{ kequn._same_file_and_key('repeated_in_file', relation, keys) }}
        )
        and {{ kequn.passes_rules(rules) }}
    group by
        _source_file,
        {{ keys | join(',\n        ') }}
    having count(distinct {{ kequn.row_fingerprint(values) }}) > 1

),
{%- endmacro %}

{#- True when a row breaks none of the reject rules ([condition, reason, column] triples). -#}
{% macro passes_rules(rules) -%}
    not (
        {%- for rule in rules %}
        coalesce({{ rule[0] }}, false){% if not loop.last %} or{% endif %}
        {%- endfor %}
    )
{%- endmacro %}

{#- The join that puts the in-file conflict beside each row of `relation` (no row repeated:
    conflicts_in_file has one row per file and key). -#}
{% macro join_conflicts_in_file(relation, keys) -%}
    left join conflicts_in_file
        on {{ relation }}._source_file = conflicts_in_file._conflict_file
        {%- for k in keys %}
        and {{ kequn.same_or_both_null(relation ~ '.' ~ k, 'conflicts_in_file._conflict_key_' ~ loop.index) }}
        {%- endfor %}
{%- endmacro %}

{#- True for a row whose key conflicts within its file (after join_conflicts_in_file). -#}
{% macro is_conflicting_in_file() -%}
    conflicts_in_file._conflict_file is not null
{%- endmacro %}

{#- One text per row from its values, nulls told apart from any text (for count distinct). -#}
{% macro row_fingerprint(values) -%}
    {%- set parts = [] -%}
    {%- for v in values -%}
        {%- do parts.append("coalesce(cast(" ~ v ~ " as " ~ dbt.type_string() ~ "), '<null>')") -%}
        {%- if not loop.last %}{% do parts.append("'|'") %}{% endif -%}
    {%- endfor -%}
    {{ dbt.hash(dbt.concat(parts)) }}
{%- endmacro %}

{% macro _same_file_and_key(left, right, keys) -%}
    {{ left }}._source_file = {{ right }}._source_file
    {%- for k in keys %}
        and {{ kequn.same_or_both_null(left ~ '.' ~ k, right ~ '.' ~ k) }}
    {%- endfor %}
{%- endmacro %}
