-- One row per client per as-of date: the CDC version of the client valid at the end of
-- that date (latest updated_at on or before it), with age, children and the validity of
-- the risk assessment at that date. Clients whose first version is later are not known yet.
with

clients as (

    select * from {{ ref('stg_brokerage__clients') }}

),

as_of_dates as (

    select * from {{ ref('int_as_of_dates_spined') }}
    where is_computed

),

parameters as (

    select * from {{ ref('int_rule_parameters_pivoted') }}

),

versions_at_date as (

    select
        clients.client_id,
        as_of_dates.as_of_date,
        clients.client_type,
        clients.person_key,
        clients.birth_date,
        clients.gender,
        clients.occupation,
        clients.employer_name,
        clients.employer_industry,
        clients.employer_listed_board,
        clients.job_title,
        clients.education,
        clients.marital_status,
        clients.children_count,
        clients.youngest_child_birth_year,
        clients.risk_level,
        clients.risk_assessed_date,
        clients.open_date,
        clients.open_channel,
        clients.branch_id,
        clients.city,
        clients.status as client_status,
        clients.close_date,
        parameters.risk_assessment_max_age_days
    from clients
    inner join as_of_dates
        on
            cast(clients.updated_at as date) <= as_of_dates.as_of_date
            and (clients.valid_to is null or cast(clients.valid_to as date) > as_of_dates.as_of_date)
    cross join parameters

),

resolved as (

    select
        client_id,
        as_of_date,
        coalesce(client_type, 'individual') as client_type,
        person_key,
        birth_date,
        case
            when birth_date <= as_of_date then {{ age_in_years('birth_date', 'as_of_date') }}
        end as age,
        cast(extract(year from birth_date) as integer) as birth_year,
        gender,
        occupation,
        employer_name,
        employer_industry,
        employer_listed_board,
        job_title,
        education,
        marital_status,
        children_count,
        youngest_child_birth_year,
        (coalesce(children_count, 0) >= 1 or youngest_child_birth_year is not null) as has_children,
        risk_level,
        risk_assessed_date,
        {{ days_between('risk_assessed_date', 'as_of_date') }} as risk_assessment_age_days,
        (
            risk_level is null
            or risk_assessed_date is null
            or {{ days_between('risk_assessed_date', 'as_of_date') }} > risk_assessment_max_age_days
        ) as needs_risk_assessment,
        open_date,
        {{ days_between('open_date', 'as_of_date') }} as days_since_open,
        open_channel,
        branch_id,
        city,
        client_status,
        close_date
    from versions_at_date

)

select * from resolved
