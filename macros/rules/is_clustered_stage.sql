{#- SQL condition: a client in lifecycle stage `column` is clustered (behavioural clusters),
    i.e. the stage is not in var cluster_excluded_lifecycle_stages. One home for the rule:
    the features model and the assignment test both use it. -#}
{% macro is_clustered_stage(column) -%}
    {%- set excluded_stages = var('cluster_excluded_lifecycle_stages') -%}
    {%- if excluded_stages | length == 0 -%}
        (1 = 1)
    {%- else -%}
        {{ column }} not in (
            {%- for stage in excluded_stages %}'{{ stage }}'{% if not loop.last %}, {% endif %}{% endfor -%}
        )
    {%- endif -%}
{%- endmacro %}
