-- Every client in client_segments has exactly one primary membership, and it equals
-- client_segments.primary_group; group_codes lists exactly the non-fallback memberships.
with

memberships as (

    select
        client_id,
        sum(case when is_primary then 1 else 0 end) as primary_rows,
        max(case when is_primary then group_code end) as primary_group,
        count(case when group_code <> 'mass' then 1 end) as special_groups
    from {{ ref('client_group_memberships') }}
    group by client_id

)

select
    segments.client_id,
    memberships.primary_rows,
    memberships.primary_group,
    segments.primary_group as segment_primary_group
from {{ ref('client_segments') }} as segments
left join memberships
    on segments.client_id = memberships.client_id
where
    memberships.primary_rows is null
    or memberships.primary_rows <> 1
    or memberships.primary_group <> segments.primary_group
    or memberships.special_groups
    <> case
        when
            segments.group_codes = '' then 0 else
            length(segments.group_codes)
            - length(replace(segments.group_codes, ',', '')) + 1
    end
