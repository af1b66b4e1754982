-- The current as-of date's membership history equals client_group_memberships, and every
-- client-month in the history has a features row: the "as of many dates" models agree with
-- the as-of-date marts. Returns mismatching rows.
with

as_of as (

    select as_of_date from {{ ref('int_as_of_dates_spined') }}
    where is_current

),

history as (

    select
        history.client_id,
        history.group_code,
        history.is_primary
    from {{ ref('client_group_membership_history') }} as history
    inner join as_of on history.month_end = as_of.as_of_date

),

memberships as (

    select
        client_id,
        group_code,
        is_primary
    from {{ ref('client_group_memberships') }}

),

missing_features as (

    select
        history.client_id,
        history.month_end
    from {{ ref('client_group_membership_history') }} as history
    left join {{ ref('client_features_monthly') }} as features
        on
            history.client_id = features.client_id
            and history.month_end = features.month_end
    where features.client_id is null

)

select
    'history_not_in_memberships' as issue,
    client_id,
    group_code
from (
    select * from history
    except
    select * from memberships
) as a
union all
select
    'membership_not_in_history' as issue,
    client_id,
    group_code
from (
    select * from memberships
    except
    select * from history
) as b
union all
select
    'history_without_features' as issue,
    client_id,
    cast(month_end as {{ dbt.type_string() }})
from missing_features
