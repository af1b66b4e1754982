{{ config(materialized='table') }}
-- One row per individual client per as-of date per group the client belongs to, with the
-- group's priority and whether it is the primary group (the first match by priority). A
-- client matching no group gets one row of the fallback group (mass) as its primary group.
with

measures as (

    select
        client_id,
        as_of_date
    from {{ ref('int_client_measures_joined') }}

),

matches as (

    select * from {{ ref('int_client_groups_matched') }}

),

group_catalogue as (

    select * from {{ ref('rule_groups') }}

),

fallback_memberships as (

    select
        measures.client_id,
        measures.as_of_date,
        group_catalogue.group_code,
        'groups_matched=none' as evidence
    from measures
    cross join group_catalogue
    where
        group_catalogue.is_fallback
        and not exists (
            select 1
            from matches
            where
                matches.client_id = measures.client_id
                and matches.as_of_date = measures.as_of_date
        )

),

memberships as (

    select
        client_id,
        as_of_date,
        group_code,
        evidence
    from matches

    union all

    select
        client_id,
        as_of_date,
        group_code,
        evidence
    from fallback_memberships

),

ranked as (

    select
        memberships.client_id,
        memberships.as_of_date,
        memberships.group_code,
        group_catalogue.priority as group_priority,
        group_catalogue.is_fallback as is_fallback_group,
        memberships.evidence,
        row_number() over (
            partition by memberships.client_id, memberships.as_of_date
            order by group_catalogue.priority, memberships.group_code
        ) as group_rank
    from memberships
    inner join group_catalogue
        on memberships.group_code = group_catalogue.group_code

),

flagged as (

    select
        client_id,
        as_of_date,
        group_code,
        group_priority,
        is_fallback_group,
        evidence,
        group_rank = 1 as is_primary
    from ranked

)

select * from flagged
