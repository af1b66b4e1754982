{#- Frozen campaign cohorts on Spark: not read yet (false). Spark SQL cannot test whether a
    glob matches any file without failing on none (PATH_NOT_FOUND), and the source's
    `read_parquet` location is DuckDB's; the port is a parquet view on-run-start, like the
    raw files (DECISIONS.md, Spark port). -#}
{% macro spark__campaign_files_exist() -%}
    {{ return(false) }}
{%- endmacro %}
