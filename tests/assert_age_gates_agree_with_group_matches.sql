-- int_client_group_age_gates_evaluated restates a group's rule without its age test (for
-- client_upcoming_transitions). For clients whose age is inside the group's bounds it must
-- agree with int_client_groups_matched, or the two rules have drifted apart.
with

age_gates as (

    select * from {{ ref('int_client_group_age_gates_evaluated') }}

),

measures as (

    select * from {{ ref('int_client_measures_joined') }}
    where is_current

),

matched as (

    select * from {{ ref('int_client_groups_matched') }}

),

compared as (

    select
        age_gates.client_id,
        age_gates.group_code,
        age_gates.is_met_except_age,
        matched.group_code is not null as is_matched
    from age_gates
    inner join measures
        on age_gates.client_id = measures.client_id
    left join matched
        on
            age_gates.client_id = matched.client_id
            and age_gates.as_of_date = matched.as_of_date
            and age_gates.group_code = matched.group_code
    where
        (age_gates.min_age is null or measures.age >= age_gates.min_age)
        and (age_gates.max_age is null or measures.age <= age_gates.max_age)

)

select * from compared
where is_met_except_age != is_matched
