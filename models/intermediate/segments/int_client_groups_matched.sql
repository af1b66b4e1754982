{{ config(materialized='table') }}
-- One row per individual client per as-of date per special group whose membership rule
-- holds at that date, with the evidence (the values that made it true). The rules are data
-- (rule_groups, rule_group_lists): a client matches a group when its scalar conditions
-- (gender, age, birth year, children) hold, its role matches any role list (occupation,
-- education, job-title keyword) and its employer any employer list (industry, listed
-- board) - an absent list imposes nothing - or when it holds restricted shares on a board
-- of the group's restricted_share_board list.
{%- set text = dbt.type_string() %}

with

measures as (

    select * from {{ ref('int_client_measures_joined') }}

),

group_catalogue as (

    select * from {{ ref('rule_groups') }}
    where not is_fallback

),

group_lists as (

    select * from {{ ref('rule_group_lists') }}

),

restricted_holdings as (

    select * from {{ ref('int_client_restricted_holdings_aggregated') }}

),

group_list_kinds as (

    select
        group_code,
        max(case when list_name in ('occupation', 'education', 'title_keyword') then 1 else 0 end) = 1
            as has_role_lists,
        max(case when list_name in ('employer_industry', 'employer_board') then 1 else 0 end) = 1
            as has_employer_lists
    from group_lists
    group by group_code

),

title_hits as (

    -- each distinct job title against each group's keywords, matched as whole words
    select
        titles.job_title,
        group_lists.group_code,
        min(group_lists.list_value) as title_keyword
    from (
        select distinct job_title from measures
        where job_title is not null
    ) as titles
    inner join group_lists
        on
            group_lists.list_name = 'title_keyword'
            and {{ text_contains_keyword('titles.job_title', 'group_lists.list_value') }}
    group by titles.job_title, group_lists.group_code

),

restricted_hits as (

    select
        restricted_holdings.snapshot_date,
        restricted_holdings.client_id,
        group_lists.group_code,
        min(restricted_holdings.board) as restricted_board,
        sum(restricted_holdings.restricted_value) as restricted_value
    from restricted_holdings
    inner join group_lists
        on
            group_lists.list_name = 'restricted_share_board'
            and restricted_holdings.board = group_lists.list_value
    where restricted_holdings.restricted_value > 0
    group by restricted_holdings.snapshot_date, restricted_holdings.client_id, group_lists.group_code

),

candidates as (

    select
        measures.client_id,
        measures.as_of_date,
        measures.age,
        measures.birth_year,
        measures.gender,
        measures.occupation,
        measures.education,
        measures.job_title,
        measures.employer_industry,
        measures.employer_listed_board,
        measures.children_count,
        measures.youngest_child_birth_year,
        group_catalogue.group_code,
        group_catalogue.required_gender,
        group_catalogue.min_age,
        group_catalogue.max_age,
        group_catalogue.min_birth_year,
        group_catalogue.max_birth_year,
        group_catalogue.min_children,
        coalesce(group_list_kinds.has_role_lists, false) as has_role_lists,
        coalesce(group_list_kinds.has_employer_lists, false) as has_employer_lists,
        occupations.list_value is not null as is_occupation_hit,
        educations.list_value is not null as is_education_hit,
        title_hits.title_keyword,
        industries.list_value is not null as is_industry_hit,
        boards.list_value is not null as is_board_hit,
        restricted_hits.restricted_board,
        restricted_hits.restricted_value
    from measures
    cross join group_catalogue
    left join group_list_kinds
        on group_catalogue.group_code = group_list_kinds.group_code
    left join group_lists as occupations
        on
            group_catalogue.group_code = occupations.group_code
            and occupations.list_name = 'occupation'
            and measures.occupation = occupations.list_value
    left join group_lists as educations
        on
            group_catalogue.group_code = educations.group_code
            and educations.list_name = 'education'
            and measures.education = educations.list_value
    left join title_hits
        on
            group_catalogue.group_code = title_hits.group_code
            and measures.job_title = title_hits.job_title
    left join group_lists as industries
        on
            group_catalogue.group_code = industries.group_code
            and industries.list_name = 'employer_industry'
            and measures.employer_industry = industries.list_value
    left join group_lists as boards
        on
            group_catalogue.group_code = boards.group_code
            and boards.list_name = 'employer_board'
            and measures.employer_listed_board = boards.list_value
    left join restricted_hits
        on
            group_catalogue.group_code = restricted_hits.group_code
            and measures.client_id = restricted_hits.client_id
            and measures.snapshot_date = restricted_hits.snapshot_date

),

evaluated as (

    select
        *,
        coalesce(
            (required_gender is null or gender = required_gender)
            and (min_age is null or age >= min_age)
            and (max_age is null or age <= max_age)
            and (min_birth_year is null or birth_year >= min_birth_year)
            and (max_birth_year is null or birth_year <= max_birth_year)
            and (
                min_children is null
                or coalesce(children_count, 0) >= min_children
                or (youngest_child_birth_year is not null and min_children <= 1)
            ),
            false
        ) as is_profile_match,
        (not has_role_lists or is_occupation_hit or is_education_hit or title_keyword is not null) as is_role_match,
        (not has_employer_lists or is_industry_hit or is_board_hit) as is_employer_match,
        restricted_board is not null as is_restricted_match
    from candidates

),

matched as (

    select
        client_id,
        as_of_date,
        group_code,
        (is_profile_match and is_role_match and is_employer_match) as is_rule_match,
        is_restricted_match,
        concat_ws(
            '; ',
            case when is_occupation_hit then 'occupation=' || occupation end,
            case when is_education_hit then 'education=' || education end,
            case when title_keyword is not null then 'job_title=' || job_title end,
            case when is_industry_hit then 'employer_industry=' || employer_industry end,
            case when is_board_hit then 'employer_board=' || employer_listed_board end,
            case when required_gender is not null then 'gender=' || gender end,
            case when min_age is not null or max_age is not null then 'age=' || cast(age as {{ text }}) end,
            case
                when min_birth_year is not null or max_birth_year is not null
                    then 'birth_year=' || cast(birth_year as {{ text }})
            end,
            case
                when min_children is not null and children_count is not null
                    then 'children=' || cast(children_count as {{ text }})
                when min_children is not null
                    then 'youngest_child_birth_year=' || cast(youngest_child_birth_year as {{ text }})
            end
        ) as rule_evidence,
        case
            when is_restricted_match
                then
                    'restricted_shares=' || restricted_board || ':'
                    || cast(cast(restricted_value as decimal(18, 2)) as {{ text }})
        end as restricted_evidence
    from evaluated
    where
        (is_profile_match and is_role_match and is_employer_match)
        or is_restricted_match

),

with_evidence as (

    select
        client_id,
        as_of_date,
        group_code,
        case
            when is_rule_match and is_restricted_match then rule_evidence || '; ' || restricted_evidence
            when is_rule_match then rule_evidence
            else restricted_evidence
        end as evidence
    from matched

)

select * from with_evidence
