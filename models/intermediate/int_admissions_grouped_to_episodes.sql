-- One row per admission, placed in its patient's own timeline: its order, whether it overlaps
-- the patient's earlier stays, the hospital episode it belongs to, and whether it is the stay
-- that closes the episode. The rule is in the `hospital_episode` docs block. It also carries
-- the admission's own attributes the timeline needs further on, so that no later model of
-- the timeline reaches back to staging.
with

admissions as (

    select
        subject_id,
        hadm_id,
        admitted_at,
        discharged_at,
        admit_year,
        admission_type,
        ed_registered_at,
        is_hospital_death
    from {{ ref('int_admissions_in_feature_window') }}

),

ordered as (

    select
        subject_id,
        hadm_id,
        admitted_at,
        discharged_at,
        admit_year,
        admission_type,
        ed_registered_at,
        is_hospital_death,
        row_number() over (
            partition by subject_id
            order by admitted_at, hadm_id
        ) as admission_sequence,
        -- the end of the patient's hospital time before this admission started
        max(discharged_at) over (
            partition by subject_id
            order by admitted_at, hadm_id
            rows between unbounded preceding and 1 preceding
        ) as prior_latest_discharged_at
    from admissions

),

-- An admission that starts before the patient's earlier stays have all ended (a transfer or
-- a recording artefact) overlaps them and joins their hospital episode; any other admission
-- starts a new episode.
overlaps_flagged as (

    select
        subject_id,
        hadm_id,
        admitted_at,
        discharged_at,
        admit_year,
        admission_type,
        ed_registered_at,
        is_hospital_death,
        admission_sequence,
        {{ is_overlapping_stay('admitted_at', 'prior_latest_discharged_at') }} as is_overlapping_stay
    from ordered

),

episodes_numbered as (

    select
        subject_id,
        hadm_id,
        admitted_at,
        discharged_at,
        admit_year,
        admission_type,
        ed_registered_at,
        is_hospital_death,
        admission_sequence,
        is_overlapping_stay,
        sum(case when is_overlapping_stay then 0 else 1 end) over (
            partition by subject_id
            order by admitted_at, hadm_id
            rows between unbounded preceding and current row
        ) as episode_number
    from overlaps_flagged

),

-- the admission discharged last closes the episode: the stay readmissions count against
episodes_closed as (

    select
        subject_id,
        hadm_id,
        admitted_at,
        discharged_at,
        admit_year,
        admission_type,
        ed_registered_at,
        is_hospital_death,
        admission_sequence,
        is_overlapping_stay,
        episode_number,
        row_number() over (
            partition by subject_id, episode_number
            order by discharged_at desc, hadm_id desc
        ) = 1 as is_closing_stay
    from episodes_numbered

)

select * from episodes_closed
