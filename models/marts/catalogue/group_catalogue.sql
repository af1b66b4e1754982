-- One row per client group (the seven special groups and the fallback `mass`): names,
-- priority, the playbook's service channel and text, its acquisition channels (来源) and
-- recommended product types in playbook order, so BI tools read them from the marts.
with

groups as (

    select * from {{ ref('rule_groups') }}

),

playbooks as (

    select * from {{ ref('rule_playbooks') }}

),

playbook_items as (

    select * from {{ ref('rule_playbook_items') }}

),

rule_versions as (

    select rule_version from {{ ref('int_rule_versions_hashed') }}

),

item_lists as (

    select
        group_code,
        {{ dbt.listagg(
            "case when item_kind = 'acquisition_channel' then item_value end",
            "','",
            'order by item_order, item_value'
        ) }} as acquisition_channels,
        {{ dbt.listagg(
            "case when item_kind = 'product_type' then item_value end",
            "','",
            'order by item_order, item_value'
        ) }} as recommended_product_types
    from playbook_items
    group by group_code

),

final as (

    select
        cast(groups.group_code as {{ dbt.type_string() }}) as group_code,
        cast(groups.group_name_zh as {{ dbt.type_string() }}) as group_name_zh,
        cast(groups.group_name_en as {{ dbt.type_string() }}) as group_name_en,
        cast(groups.priority as integer) as priority,
        cast(groups.is_fallback as boolean) as is_fallback,
        cast(playbooks.service_channel as {{ dbt.type_string() }}) as service_channel,
        cast(playbooks.service_channel_zh as {{ dbt.type_string() }}) as service_channel_zh,
        cast(coalesce(item_lists.acquisition_channels, '') as {{ dbt.type_string() }})
            as acquisition_channels,
        cast(coalesce(item_lists.recommended_product_types, '') as {{ dbt.type_string() }})
            as recommended_product_types,
        cast(playbooks.playbook_zh as {{ dbt.type_string() }}) as playbook_zh,
        cast(playbooks.playbook as {{ dbt.type_string() }}) as playbook,
        cast(rule_versions.rule_version as {{ dbt.type_string() }}) as rule_version
    from groups
    left join playbooks
        on groups.group_code = playbooks.group_code
    left join item_lists
        on groups.group_code = item_lists.group_code
    cross join rule_versions

)

select * from final
