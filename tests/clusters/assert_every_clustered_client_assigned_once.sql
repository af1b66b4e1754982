{{ config(enabled=target.type == 'duckdb') }}
-- Every individual client of client_segments whose lifecycle stage is clustered (not in
-- var cluster_excluded_lifecycle_stages) has exactly one row in client_behaviour_clusters
-- at the current as-of date, and no other client has one.

with

segments as (

    select * from {{ ref('client_segments') }}

),

assignments as (

    select * from {{ ref('client_behaviour_clusters') }}

),

expected as (

    select
        client_id,
        as_of_date
    from segments
    where {{ kequn.is_clustered_stage('lifecycle_stage') }}

),

current_as_of as (

    select distinct as_of_date from segments

),

assigned as (

    select
        assignments.client_id,
        count(*) as assignment_rows
    from assignments
    inner join current_as_of
        on assignments.as_of_date = current_as_of.as_of_date
    group by assignments.client_id

),

compared as (

    select
        coalesce(expected.client_id, assigned.client_id) as client_id,
        expected.client_id is not null as is_expected,
        coalesce(assigned.assignment_rows, 0) as assignment_rows
    from expected
    full outer join assigned
        on expected.client_id = assigned.client_id

)

select * from compared
where not is_expected or assignment_rows <> 1
