-- One row per individual client at the current as-of date per special group with an age
-- bound (rule_groups.min_age or max_age): whether every other condition of the group's
-- rule holds (gender, birth year, children, role lists, employer lists), so the age alone
-- decides membership. The same rule as int_client_groups_matched, without the age test;
-- test assert_age_gates_agree_with_group_matches keeps the two in step.
with

measures as (

    select * from {{ ref('int_client_measures_joined') }}
    where is_current

),

age_bound_groups as (

    select * from {{ ref('rule_groups') }}
    where
        not is_fallback
        and (min_age is not null or max_age is not null)

),

group_lists as (

    select * from {{ ref('rule_group_lists') }}

),

list_kinds as (

    select
        group_code,
        max(case when list_name in ('occupation', 'education', 'title_keyword') then 1 else 0 end) = 1
            as has_role_lists,
        max(case when list_name in ('employer_industry', 'employer_board') then 1 else 0 end) = 1
            as has_employer_lists
    from group_lists
    group by group_code

),

list_hits as (

    select
        measures.client_id,
        group_lists.group_code,
        max(case when group_lists.list_name in ('occupation', 'education', 'title_keyword') then 1 else 0 end) = 1
            as is_role_hit,
        max(case when group_lists.list_name in ('employer_industry', 'employer_board') then 1 else 0 end) = 1
            as is_employer_hit
    from measures
    inner join group_lists
        on
            (group_lists.list_name = 'occupation' and measures.occupation = group_lists.list_value)
            or (group_lists.list_name = 'education' and measures.education = group_lists.list_value)
            or (
                group_lists.list_name = 'title_keyword'
                and measures.job_title is not null
                and {{ text_contains_keyword('measures.job_title', 'group_lists.list_value') }}
            )
            or (
                group_lists.list_name = 'employer_industry'
                and measures.employer_industry = group_lists.list_value
            )
            or (
                group_lists.list_name = 'employer_board'
                and measures.employer_listed_board = group_lists.list_value
            )
    group by measures.client_id, group_lists.group_code

),

evaluated as (

    select
        measures.client_id,
        measures.as_of_date,
        age_bound_groups.group_code,
        age_bound_groups.min_age,
        age_bound_groups.max_age,
        coalesce(
            (age_bound_groups.required_gender is null or measures.gender = age_bound_groups.required_gender)
            and (age_bound_groups.min_birth_year is null or measures.birth_year >= age_bound_groups.min_birth_year)
            and (age_bound_groups.max_birth_year is null or measures.birth_year <= age_bound_groups.max_birth_year)
            and (
                age_bound_groups.min_children is null
                or coalesce(measures.children_count, 0) >= age_bound_groups.min_children
                or (measures.youngest_child_birth_year is not null and age_bound_groups.min_children <= 1)
            )
            and (not coalesce(list_kinds.has_role_lists, false) or coalesce(list_hits.is_role_hit, false))
            and (not coalesce(list_kinds.has_employer_lists, false) or coalesce(list_hits.is_employer_hit, false)),
            false
        ) as is_met_except_age
    from measures
    cross join age_bound_groups
    left join list_kinds
        on age_bound_groups.group_code = list_kinds.group_code
    left join list_hits
        on
            measures.client_id = list_hits.client_id
            and age_bound_groups.group_code = list_hits.group_code

)

select * from evaluated
