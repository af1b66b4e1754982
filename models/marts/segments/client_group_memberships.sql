-- One row per individual client per group it belongs to at the as-of date, with the
-- evidence that made the membership true and whether it is the client's primary group.
with

as_of_dates as (

    select as_of_date from {{ ref('int_as_of_dates_spined') }}
    where is_current

),

memberships as (

    select * from {{ ref('int_client_groups_ranked') }}

),

rule_versions as (

    select rule_version from {{ ref('int_rule_versions_hashed') }}

),

final as (

    select
        cast(memberships.client_id as {{ dbt.type_string() }}) as client_id,
        cast(memberships.as_of_date as date) as as_of_date,
        cast(memberships.group_code as {{ dbt.type_string() }}) as group_code,
        cast(memberships.group_priority as integer) as group_priority,
        cast(memberships.is_primary as boolean) as is_primary,
        cast(memberships.evidence as {{ dbt.type_string() }}) as evidence,
        cast(rule_versions.rule_version as {{ dbt.type_string() }}) as rule_version
    from memberships
    inner join as_of_dates
        on memberships.as_of_date = as_of_dates.as_of_date
    cross join rule_versions

)

select * from final
