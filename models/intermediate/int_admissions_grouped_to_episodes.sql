-- One row per hospital admission of the release, placed in its patient's own timeline: its
-- order, whether it continues the patient's earlier stays, the hospital episode it belongs
-- to, and whether it is the stay that closes the episode (docs block hospital_episode). Every
-- admission, whatever the feature window: features read it through the window
-- (int_admissions_sequenced), follow-up after an index reads all of it. It carries the
-- admission's own attributes the timeline needs further on, so that no later model of the
-- timeline reaches back to the admissions.
with

admissions as (

    select
        subject_id,
        hadm_id,
        admitted_at,
        discharged_at,
        admit_year,
        encounter_class,
        is_counted_stay,
        is_planned_admission,
        is_emergency_admission,
        is_hospital_death
    from {{ ref('int_admissions_classified') }}

),

ordered as (

    select
        subject_id,
        hadm_id,
        admitted_at,
        discharged_at,
        admit_year,
        encounter_class,
        is_counted_stay,
        is_planned_admission,
        is_emergency_admission,
        is_hospital_death,
        -- bigint on every engine (Spark's row_number() is an int), as the contract declares it
        cast(row_number() over (
            partition by subject_id
            order by admitted_at, hadm_id
        ) as {{ dbt.type_bigint() }}) as admission_sequence,
        -- the end of the patient's hospital time before this admission started
        max(discharged_at) over (
            partition by subject_id
            order by admitted_at, hadm_id
            rows between unbounded preceding and 1 preceding
        ) as prior_latest_discharged_at
    from admissions

),

-- An admission that starts before the patient's earlier stays have all ended, or within
-- var episode_max_gap_hours of their latest discharge, continues their hospital episode (a
-- transfer, a handoff from an observation record to an inpatient one); any other admission
-- starts a new episode. Stays of every class form episodes: the patient was in hospital.
continuations_flagged as (

    select
        subject_id,
        hadm_id,
        admitted_at,
        discharged_at,
        admit_year,
        encounter_class,
        is_counted_stay,
        is_planned_admission,
        is_emergency_admission,
        is_hospital_death,
        admission_sequence,
        {{ continues_previous_stay('admitted_at', 'prior_latest_discharged_at') }} as continues_previous_stay
    from ordered

),

episodes_numbered as (

    select
        subject_id,
        hadm_id,
        admitted_at,
        discharged_at,
        admit_year,
        encounter_class,
        is_counted_stay,
        is_planned_admission,
        is_emergency_admission,
        is_hospital_death,
        admission_sequence,
        continues_previous_stay,
        cast(sum(case when continues_previous_stay then 0 else 1 end) over (
            partition by subject_id
            order by admitted_at, hadm_id
            rows between unbounded preceding and current row
        ) as {{ dbt.type_bigint() }}) as episode_number
    from continuations_flagged

),

-- The admission discharged last closes the episode: the stay readmissions count against.
-- The first counted stay opens it as a readmission (var readmission_definition): in
-- 'inpatient' mode an observation stay that precedes it in the episode is not the readmission.
episodes_closed as (

    select
        subject_id,
        hadm_id,
        admitted_at,
        discharged_at,
        admit_year,
        encounter_class,
        is_counted_stay,
        is_planned_admission,
        is_emergency_admission,
        is_hospital_death,
        admission_sequence,
        continues_previous_stay,
        episode_number,
        row_number() over (
            partition by subject_id, episode_number
            order by discharged_at desc, hadm_id desc
        ) = 1 as is_closing_stay,
        is_counted_stay and row_number() over (
            partition by subject_id, episode_number, is_counted_stay
            order by admitted_at, hadm_id
        ) = 1 as is_opening_counted_stay
    from episodes_numbered

)

select
    subject_id,
    hadm_id,
    admitted_at,
    discharged_at,
    admit_year,
    encounter_class,
    is_counted_stay,
    is_planned_admission,
    is_emergency_admission,
    is_hospital_death,
    admission_sequence,
    continues_previous_stay,
    episode_number,
    is_closing_stay,
    is_opening_counted_stay
from episodes_closed
