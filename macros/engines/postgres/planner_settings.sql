{#- Postgres estimates the rows passing a base model's reject rules (some twenty ANDed
    conditions on a CTE without statistics) at 1, and then joins the in-file conflicts by
    nested loop: base_brokerage__trades at scale 1 ran 17 min before it was cancelled; with
    nested loops off the same query takes 88 s. `set local`: for the model's transaction
    only (dbt-postgres runs the pre-hook and the model in one). -#}
{% macro postgres__planner_settings() -%}
    set local enable_nestloop = off
{%- endmacro %}
