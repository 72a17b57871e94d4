-- One row per indexed patient and end-of-data assumption: how the patient's follow-up after
-- the index discharge ended (a return, a death before any return, or censoring) and on which
-- day. The return curves (segment_return_curves) are estimated from these rows; the rules are
-- in the docs blocks `return_follow_up` and `end_of_data_assumption`.
with

indexed as (

    select
        subject_id,
        index_discharge_date,
        days_to_return,
        days_to_death
    from {{ ref('int_patients_indexed_for_return') }}

),

end_of_data as (

    select
        subject_id,
        earliest_end_of_data_date,
        midpoint_end_of_data_date,
        latest_end_of_data_date
    from {{ ref('int_patients_end_of_data_bounded') }}

),

-- the three readings of the patient's end of data; the earliest is the primary one
assumptions as (

    select 'earliest' as end_of_data_assumption
    union all
    select 'midpoint' as end_of_data_assumption
    union all
    select 'latest' as end_of_data_assumption

),

-- both at patient grain (one-to-one), then one row per assumption
followed as (

    select
        indexed.subject_id,
        assumptions.end_of_data_assumption,
        indexed.days_to_return,
        indexed.days_to_death,
        case assumptions.end_of_data_assumption
            when 'earliest' then end_of_data.earliest_end_of_data_date
            when 'midpoint' then end_of_data.midpoint_end_of_data_date
            when 'latest' then end_of_data.latest_end_of_data_date
        end as end_of_data_date,
        cast({{ dbt.datediff(
            'indexed.index_discharge_date',
            "case assumptions.end_of_data_assumption"
            ~ " when 'earliest' then end_of_data.earliest_end_of_data_date"
            ~ " when 'midpoint' then end_of_data.midpoint_end_of_data_date"
            ~ " when 'latest' then end_of_data.latest_end_of_data_date end",
            'day'
        ) }} as {{ dbt.type_bigint() }}) as days_to_end_of_data
    from indexed
    inner join end_of_data on indexed.subject_id = end_of_data.subject_id
    cross join assumptions

),

-- Follow-up stops at the end of data or at the horizon, whichever comes first (the end of
-- data's own day is still covered: the release runs to 31 December inclusive).
censoring as (

    select
        subject_id,
        end_of_data_assumption,
        end_of_data_date,
        days_to_end_of_data,
        days_to_return,
        days_to_death,
        case
            when days_to_end_of_data < {{ var('return_curve_horizon_days') }} then days_to_end_of_data
            else {{ var('return_curve_horizon_days') }}
        end as days_to_censoring
    from followed

),

-- Same-day ties: a return beats a death (the patient was admitted, then died) and both beat
-- censoring (an event on the last covered day is seen). A patient whose end of data falls
-- before the index discharge was never followed under that assumption.
outcomes as (

    select
        subject_id,
        end_of_data_assumption,
        end_of_data_date,
        days_to_end_of_data,
        case
            when days_to_end_of_data < 0 then 'not_followed'
            when
                days_to_return <= days_to_censoring
                and (days_to_death is null or days_to_return <= days_to_death)
                then 'return'
            when days_to_death <= days_to_censoring then 'death'
            else 'censored'
        end as outcome,
        days_to_return,
        days_to_death,
        days_to_censoring
    from censoring

),

final as (

    select
        subject_id,
        end_of_data_assumption,
        end_of_data_date,
        days_to_end_of_data,
        outcome,
        case outcome
            when 'return' then days_to_return
            when 'death' then days_to_death
            when 'censored' then days_to_censoring
        end as follow_up_days,
        case
            when outcome <> 'censored' then null
            when days_to_end_of_data < {{ var('return_curve_horizon_days') }} then 'end_of_data'
            else 'horizon'
        end as censored_by
    from outcomes

)

select * from final
