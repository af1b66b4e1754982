{#- is_computed: whether this run computes client state for the date (every date in a full
    build; in a nightly run the months the history marts restate and the current as-of
    date: see kequn.as_of_compute_from). The intermediate models read only those dates. -#}
{#- as_of_compute_from reads the history marts' inputs: depend on each of them -#}
{%- for input in kequn.history_changed_inputs() %}
-- depends_on: {{ ref(input.model) }}
{%- endfor %}
-- depends_on: {{ ref('stg_brokerage__trades_rejected') }}
{%- set compute_from = kequn.as_of_compute_from() %}
-- One row per as-of date the warehouse knows client state for: every month end from the
-- first snapshot month up to the current as-of date, plus the current as-of date itself
-- (var as_of_date; null = the latest snapshot date). Each date carries the snapshot that
-- describes it (latest on or before) and the snapshot ~90 days earlier.
with

holdings as (

    select snapshot_date from {{ ref('stg_brokerage__holdings') }}

),

balances as (

    select snapshot_date from {{ ref('stg_brokerage__balances') }}

),

parameters as (

    select * from {{ ref('int_rule_parameters_pivoted') }}

),

snapshot_dates as (

    select snapshot_date from holdings
    union
    select snapshot_date from balances

),

bounds as (

    select
        {% if var('as_of_date') -%}
            cast('{{ var("as_of_date") }}' as date)
        {%- else -%}
            max(snapshot_date)
        {%- endif %} as current_as_of_date,
        cast({{ dbt.date_trunc('month', 'min(snapshot_date)') }} as date) as first_month_start
    from snapshot_dates

),

month_numbers as (

    {{ dbt.generate_series(var('max_history_months', 240)) }}

),

month_starts as (

    select
        {{ dbt.dateadd('month', 'month_numbers.generated_number - 1', 'bounds.first_month_start') }}
            as month_start,
        bounds.current_as_of_date
    from month_numbers
    cross join bounds

),

month_ends as (

    select
        cast({{ dbt.last_day('month_start', 'month') }} as date) as as_of_date,
        current_as_of_date
    from month_starts

),

as_of_dates as (

    select
        as_of_date,
        true as is_month_end,
        as_of_date = current_as_of_date as is_current
    from month_ends
    where as_of_date <= current_as_of_date

    union all

    select
        current_as_of_date as as_of_date,
        false as is_month_end,
        true as is_current
    from bounds
    where
        current_as_of_date is not null
        and current_as_of_date
        < cast({{ dbt.last_day('current_as_of_date', 'month') }} as date)

),

with_snapshots as (

    select
        as_of_dates.as_of_date,
        as_of_dates.is_month_end,
        as_of_dates.is_current,
        max(case
            when snapshot_dates.snapshot_date <= as_of_dates.as_of_date
                then snapshot_dates.snapshot_date
        end) as snapshot_date,
        max(case
            when
                snapshot_dates.snapshot_date
                <= {{ dbt.dateadd('day', '-1 * parameters.assets_change_lookback_days', 'as_of_dates.as_of_date') }}
                then snapshot_dates.snapshot_date
        end) as prior_snapshot_date
    from as_of_dates
    cross join parameters
    left join snapshot_dates
        on as_of_dates.as_of_date >= snapshot_dates.snapshot_date
    group by
        as_of_dates.as_of_date,
        as_of_dates.is_month_end,
        as_of_dates.is_current

),

sequenced as (

    select
        *,
        lag(as_of_date) over (order by as_of_date) as previous_as_of_date,
        {% if compute_from -%}
            is_current or as_of_date >= cast('{{ compute_from }}' as date)
        {%- else -%}
            true
        {%- endif %} as is_computed
    from with_snapshots

)

select * from sequenced
