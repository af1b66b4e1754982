{#- Postgres reads no file in place and pg_load loads only the brokerage extract: no frozen
    cohort is loaded yet, so the campaign models build empty (DECISIONS.md, Engines). -#}
{% macro postgres__campaign_files_exist() -%}
    {{- return(false) -}}
{%- endmacro %}
