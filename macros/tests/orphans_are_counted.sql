{#- Orphans (rows of `model` whose `column_name` matches no `field` in `to`) are tolerated,
    but must be counted: fails when they outnumber the orphan_rows that `counted_in` (a
    dq_reconciliation-shaped model) reports for `table_name`, or when it has no such row. -#}
{% test orphans_are_counted(model, column_name, to, field, counted_in, table_name) %}

with

orphans as (

    select count(*) as orphan_rows
    from {{ model }} as child
    where not exists (
        select 1 from {{ to }} as parent
        where parent.{{ field }} = child.{{ column_name }}
    )

),

counted as (

    select max(orphan_rows) as orphan_rows
    from {{ counted_in }}
    where table_name = '{{ table_name }}'

)

select
    orphans.orphan_rows as orphans_found,
    counted.orphan_rows as orphans_counted
from orphans
cross join counted
where counted.orphan_rows is null or orphans.orphan_rows > counted.orphan_rows

{% endtest %}
