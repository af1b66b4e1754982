{#- Fails for every row where the boolean SQL `expression` is not true (false or null).
    On a column, `expression` may refer to the column by name. -#}
{% test expression_is_true(model, expression, column_name=none) %}

select *
from {{ model }}
where not coalesce(({{ expression }}), false)

{% endtest %}
