-- One row per hospital episode of the release (docs block hospital_episode): when it started
-- and ended, whether it ended in death, whether it counts under var readmission_definition,
-- and, for a counted episode, the calendar days since the patient's previous counted episode
-- was discharged and whether it is, or is followed by, an early readmission (macro
-- is_early_readmission, docs block early_readmissions). An episode that does not count (an
-- observation stay in 'inpatient' mode) is neither an index nor a readmission, and the
-- counted episodes around it are compared with each other.
-- Every interval compares two dates of the same patient (MIMIC shifts dates per patient).
with

admissions as (

    select
        subject_id,
        episode_number,
        admitted_at,
        discharged_at,
        is_counted_stay,
        is_opening_counted_stay,
        is_planned_admission,
        is_hospital_death
    from {{ ref('int_admissions_grouped_to_episodes') }}

),

episodes as (

    select
        subject_id,
        episode_number,
        min(admitted_at) as episode_admitted_at,
        max(discharged_at) as episode_discharged_at,
        max(case when is_hospital_death then 1 else 0 end) = 1 as episode_ended_in_death,
        max(case when is_counted_stay then 1 else 0 end) = 1 as is_counted_episode,
        -- a readmission is planned by the principal diagnosis of its first counted stay
        max(case when is_opening_counted_stay and is_planned_admission then 1 else 0 end) = 1
            as is_planned_episode,
        count(*) as num_stays
    from admissions
    group by subject_id, episode_number

),

-- Each counted episode beside the counted episode before it. Partitioned by whether the
-- episode counts, so that an episode that does not count sits between none of them; its own
-- values are blanked below.
counted_intervals as (

    select
        subject_id,
        episode_number,
        episode_admitted_at,
        episode_discharged_at,
        episode_ended_in_death,
        is_counted_episode,
        is_planned_episode,
        num_stays,
        lag(episode_discharged_at) over (
            partition by subject_id, is_counted_episode order by episode_number
        ) as previous_discharged_at,
        lag(episode_ended_in_death) over (
            partition by subject_id, is_counted_episode order by episode_number
        ) as previous_ended_in_death
    from episodes

),

counted_readmissions as (

    select
        subject_id,
        episode_number,
        episode_admitted_at,
        episode_discharged_at,
        episode_ended_in_death,
        is_counted_episode,
        is_planned_episode,
        num_stays,
        -- calendar days from the previous counted discharge, as readmission windows are counted
        cast(case
            when is_counted_episode
                then {{ calendar_days_after_discharge('previous_discharged_at', 'episode_admitted_at') }}
        end as {{ dbt.type_bigint() }}) as days_since_previous_discharge,
        is_counted_episode
        and {{ is_early_readmission(
            calendar_days_after_discharge('previous_discharged_at', 'episode_admitted_at'),
            'previous_ended_in_death',
            'is_planned_episode'
        ) }} as is_early_readmission
    from counted_intervals

),

-- the next counted episode: the return after this one, and whether it is an early readmission
followed as (

    select
        subject_id,
        episode_number,
        episode_admitted_at,
        episode_discharged_at,
        episode_ended_in_death,
        is_counted_episode,
        is_planned_episode,
        num_stays,
        days_since_previous_discharge,
        is_early_readmission,
        lead(episode_number) over (
            partition by subject_id, is_counted_episode order by episode_number
        ) as next_episode_number,
        lead(episode_admitted_at) over (
            partition by subject_id, is_counted_episode order by episode_number
        ) as next_episode_admitted_at,
        lead(is_early_readmission) over (
            partition by subject_id, is_counted_episode order by episode_number
        ) as next_episode_is_early_readmission
    from counted_readmissions

)

select
    subject_id,
    episode_number,
    episode_admitted_at,
    episode_discharged_at,
    episode_ended_in_death,
    is_counted_episode,
    is_planned_episode,
    num_stays,
    days_since_previous_discharge,
    is_early_readmission,
    -- an index episode is a counted one the patient left alive: readmissions count against it
    is_counted_episode and not episode_ended_in_death as is_index_episode,
    -- the next counted episode: the patient's return to hospital after this one
    case when is_counted_episode then next_episode_number end as next_episode_number,
    case when is_counted_episode then next_episode_admitted_at end as next_episode_admitted_at,
    is_counted_episode and not episode_ended_in_death and coalesce(next_episode_is_early_readmission, false)
        as is_followed_by_early_readmission
from followed
