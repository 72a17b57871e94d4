-- One row per hospital episode (see the `hospital_episode` docs block): when it started and
-- ended, whether it ended in death, the calendar days since the patient's previous episode
-- was discharged, and whether it is, or is followed by, an early readmission (the rule: macro
-- is_early_readmission, the `early_readmissions` docs block).
-- Every interval compares two dates of the same patient (MIMIC shifts dates per patient).
with

admissions as (

    select
        subject_id,
        episode_number,
        admitted_at,
        discharged_at,
        is_hospital_death
    from {{ ref('int_admissions_grouped_to_episodes') }}

),

episodes as (

    select
        subject_id,
        episode_number,
        min(admitted_at) as episode_admitted_at,
        max(discharged_at) as episode_discharged_at,
        max(case when is_hospital_death then 1 else 0 end) = 1 as episode_ended_in_death
    from admissions
    group by subject_id, episode_number

),

episode_intervals as (

    select
        subject_id,
        episode_number,
        episode_admitted_at,
        episode_discharged_at,
        episode_ended_in_death,
        lag(episode_discharged_at) over (
            partition by subject_id order by episode_number
        ) as previous_episode_discharged_at,
        lag(episode_ended_in_death) over (
            partition by subject_id order by episode_number
        ) as previous_episode_ended_in_death
    from episodes

),

episode_gaps as (

    select
        subject_id,
        episode_number,
        episode_admitted_at,
        episode_discharged_at,
        episode_ended_in_death,
        previous_episode_ended_in_death,
        -- calendar days from the previous discharge, as readmission windows are counted
        {{ calendar_days_after_discharge('previous_episode_discharged_at', 'episode_admitted_at') }}
            as days_since_previous_discharge
    from episode_intervals

),

episode_readmissions as (

    select
        subject_id,
        episode_number,
        episode_admitted_at,
        episode_discharged_at,
        episode_ended_in_death,
        days_since_previous_discharge,
        {{ is_early_readmission('days_since_previous_discharge', 'previous_episode_ended_in_death') }}
            as is_early_readmission
    from episode_gaps

)

select
    subject_id,
    episode_number,
    episode_admitted_at,
    episode_discharged_at,
    episode_ended_in_death,
    days_since_previous_discharge,
    is_early_readmission,
    coalesce(
        lead(is_early_readmission) over (partition by subject_id order by episode_number),
        false
    ) as next_episode_is_early_readmission
from episode_readmissions
