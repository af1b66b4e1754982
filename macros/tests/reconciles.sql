{#- Fails for every row where `total` differs from the sum of `parts` (columns or
    expressions), e.g. raw_rows = loaded_rows + duplicate_rows + rejected_rows. -#}
{% test reconciles(model, total, parts) %}

select *
from {{ model }}
where {{ total }} is null
    or {{ total }} <> {{ parts | join(' + ') }}

{% endtest %}
