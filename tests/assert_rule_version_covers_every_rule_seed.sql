-- rule_version must hash every seed in seeds/rules: fails when a rule seed was added to the
-- folder but not to int_rule_versions_hashed.
{%- set rule_seeds = [] %}
{%- for node in graph.nodes.values() if node.resource_type == 'seed' %}
    {%- if node.original_file_path.startswith('seeds/rules/') %}
        {%- do rule_seeds.append(node.name) %}
    {%- endif %}
{%- endfor %}

select rule_seed_count, {{ rule_seeds | length }} as rule_seeds_in_folder
from {{ ref('int_rule_versions_hashed') }}
where rule_seed_count <> {{ rule_seeds | length }}
