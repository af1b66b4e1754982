{#- Seeds on Spark: every value is written into the `insert` as an escaped SQL literal.
    dbt-spark's own spark__load_csv_rows hands the values to the session cursor, which
    inlines them with `sql % parameters` unescaped: a text holding an apostrophe
    (rule_outreach_actions) broke the statement (PARSE_SYNTAX_ERROR), and a blank cell
    became the text 'None'. Here a blank cell is `null`, a number its literal, a date or
    timestamp its ISO text, and text is quoted with `\` and `'` escaped (Spark's default
    string literals, spark.sql.parser.escapedStringLiterals=false), each cast to the seed's
    column type as dbt-spark does. -#}
{% macro spark__load_csv_rows(model, agate_table) %}
    {%- set batch_size = get_batch_size() -%}
    {%- set column_override = model['config'].get('column_types', {}) -%}
    {%- set types = [] -%}
    {%- for col_name in agate_table.column_names -%}
        {%- do types.append(column_override.get(col_name, adapter.convert_type(agate_table, loop.index0))) -%}
    {%- endfor -%}
    {%- set statements = [] -%}
    {%- for chunk in agate_table.rows | batch(batch_size) -%}
        {%- set sql -%}
            insert into {{ this.render() }} values
            {% for row in chunk -%}
                ({%- for value in row -%}
                    cast({{ kequn.spark_seed_literal(value) }} as {{ types[loop.index0] }})
                    {%- if not loop.last %}, {% endif -%}
                {%- endfor -%}){%- if not loop.last %},{% endif %}
            {% endfor %}
        {%- endset -%}
        {%- do adapter.add_query(sql, abridge_sql_log=True) -%}
        {%- if loop.index0 == 0 -%}
            {%- do statements.append(sql) -%}
        {%- endif -%}
    {%- endfor -%}
    {{- return(statements[0] if statements else '') -}}
{% endmacro %}
