-- Primary-group migrations between consecutive month ends: how many clients moved from
-- one primary group to another (or stayed). Compile with `dbt compile -s
-- primary_group_migrations` and run the SQL in target/compiled against the warehouse.
with

history as (

    select * from {{ ref('client_group_membership_history') }}

),

primary_by_month as (

    select
        month_end,
        client_id,
        group_code
    from history
    where is_primary and is_month_end

),

months as (

    select
        month_end,
        lag(month_end) over (order by month_end) as previous_month_end
    from (select distinct month_end from primary_by_month) as distinct_months

),

moves as (

    select
        months.month_end,
        previous.group_code as from_group,
        current_month.group_code as to_group
    from months
    inner join primary_by_month as current_month
        on months.month_end = current_month.month_end
    inner join primary_by_month as previous
        on
            months.previous_month_end = previous.month_end
            and current_month.client_id = previous.client_id

),

final as (

    select
        month_end,
        from_group,
        to_group,
        count(*) as clients
    from moves
    group by month_end, from_group, to_group

)

select * from final
order by month_end, from_group, to_group
