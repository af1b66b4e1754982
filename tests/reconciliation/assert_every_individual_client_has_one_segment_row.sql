-- Reconciliation: every individual client known at the as-of date (a staged version updated
-- on or before it, individual in that version) has exactly one row in client_segments, and
-- no other client has one. Returns the offending clients.
with

as_of as (

    select as_of_date from {{ ref('int_as_of_dates_spined') }}
    where is_current

),

versions as (

    select
        clients.client_id,
        clients.client_type,
        row_number() over (partition by clients.client_id order by clients.updated_at desc) as version_rank
    from {{ ref('stg_brokerage__clients') }} as clients
    cross join as_of
    where cast(clients.updated_at as date) <= as_of.as_of_date

),

expected as (

    select client_id from versions
    where version_rank = 1 and coalesce(client_type, 'individual') = 'individual'

),

actual as (

    select
        client_id,
        count(*) as segment_rows
    from {{ ref('client_segments') }}
    group by client_id

)

select
    coalesce(expected.client_id, actual.client_id) as client_id,
    expected.client_id is not null as is_expected,
    coalesce(actual.segment_rows, 0) as segment_rows
from expected
full outer join actual on expected.client_id = actual.client_id
where expected.client_id is null or actual.client_id is null or actual.segment_rows <> 1
