-- One row: rule_version, a short hash of the content of every rule seed, so each output
-- row says which rule set produced it. Editing any CSV in seeds/rules changes it.
-- A new rule seed must be added to this list (test rule_version_covers_every_rule_seed).
{%- set rule_seeds = [
    ref('rule_acquisition_channels'),
    ref('rule_age_bands'),
    ref('rule_asset_tiers'),
    ref('rule_churn_levels'),
    ref('rule_churn_signals'),
    ref('rule_cluster_features'),
    ref('rule_cluster_phrases'),
    ref('rule_group_lists'),
    ref('rule_groups'),
    ref('rule_lifecycle_stages'),
    ref('rule_measure_lists'),
    ref('rule_outreach_actions'),
    ref('rule_outreach_channels'),
    ref('rule_parameters'),
    ref('rule_playbook_items'),
    ref('rule_playbooks'),
    ref('rule_suitability'),
    ref('rule_trading_frequency_bands'),
] %}

with

seed_hashes as (

    {% for seed in rule_seeds -%}
        {{ rule_seed_fingerprint(seed) }}
        {% if not loop.last %}union all{% endif %}
    {% endfor %}

),

hashed as (

    select
        count(*) as rule_seed_count,
        {{ dbt.concat([
            "'r'",
            dbt.right(dbt.hash(dbt.listagg("seed_name || ':' || seed_hash", "','", 'order by seed_name')), 12),
        ]) }} as rule_version
    from seed_hashes

)

select * from hashed
