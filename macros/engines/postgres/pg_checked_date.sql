{#- Postgres only: the date of integer parts y, m, d, or null when no such calendar day
    exists (month 13, 2025-02-30). Postgres' to_date raises on a month or day out of range
    and rolls 2025-02-30 over to 2 March, where DuckDB's try_strptime yields null; the
    nested cases keep make_date from ever seeing an impossible day (Postgres evaluates a
    case's branches in order, an `and` in any order). Year 0 is 1 BC, as DuckDB reads it. -#}
{% macro pg_checked_date(y, m, d) -%}
    case when ({{ m }}) between 1 and 12 then
        case when ({{ d }}) between 1 and extract(day from (
            make_date(case when ({{ y }}) = 0 then -1 else ({{ y }}) end, {{ m }}, 1)
            + interval '1 month' - interval '1 day'
        )) then make_date(case when ({{ y }}) = 0 then -1 else ({{ y }}) end, {{ m }}, {{ d }}) end
    end
{%- endmacro %}
