-- One row per patient discharged alive at least once: the index discharge of the return
-- curves (the discharge that closes the patient's first hospital episode ending alive) and
-- what followed it, in calendar days within the patient's own timeline. One index per
-- patient, so frequent flyers weigh no more than anyone else (docs block
-- `return_curve_index_discharge`).
with

admissions as (

    select
        subject_id,
        hadm_id,
        admitted_at,
        discharged_at,
        episode_number,
        is_overlapping_stay,
        is_readmission_index_stay
    from {{ ref('int_admissions_sequenced') }}

),

patients as (

    select
        subject_id,
        date_of_death
    from {{ ref('stg_mimic__patients') }}

),

-- An index stay closes its hospital episode alive (transfers are inside the episode), so
-- the patient's first one closes the first episode that ended alive.
index_stays_ranked as (

    select
        subject_id,
        hadm_id,
        episode_number,
        discharged_at,
        row_number() over (
            partition by subject_id
            order by episode_number, hadm_id
        ) as index_stay_rank
    from admissions
    where is_readmission_index_stay

),

index_stays as (

    select
        subject_id,
        hadm_id as index_hadm_id,
        episode_number as index_episode_number,
        discharged_at as index_discharged_at
    from index_stays_ranked
    where index_stay_rank = 1

),

-- The return is the start of the next hospital episode: its first admission, which never
-- overlaps an earlier stay. Many admissions to one index stay (index_stays is one row per
-- patient): cannot fan out, and the ranking re-grains to the patient.
next_episode_starts_ranked as (

    select
        admissions.subject_id,
        admissions.hadm_id,
        admissions.admitted_at,
        row_number() over (
            partition by admissions.subject_id
            order by admissions.admitted_at, admissions.hadm_id
        ) as next_start_rank
    from admissions
    inner join index_stays
        on
            admissions.subject_id = index_stays.subject_id
            and admissions.episode_number = index_stays.index_episode_number + 1
    where not admissions.is_overlapping_stay

),

next_episode_starts as (

    select
        subject_id,
        hadm_id as return_hadm_id,
        admitted_at as return_admitted_at
    from next_episode_starts_ranked
    where next_start_rank = 1

),

-- all three at patient grain: one-to-one
indexed as (

    select
        index_stays.subject_id,
        index_stays.index_hadm_id,
        index_stays.index_episode_number,
        index_stays.index_discharged_at,
        cast(index_stays.index_discharged_at as date) as index_discharge_date,
        next_episode_starts.return_hadm_id,
        next_episode_starts.return_admitted_at,
        patients.date_of_death,
        -- calendar days, as readmission windows are counted (docs block early_readmissions)
        {{ dbt.datediff(
            'cast(index_stays.index_discharged_at as date)',
            'cast(next_episode_starts.return_admitted_at as date)',
            'day'
        ) }} as days_to_return,
        {{ dbt.datediff(
            'cast(index_stays.index_discharged_at as date)',
            'patients.date_of_death',
            'day'
        ) }} as days_to_death
    from index_stays
    inner join patients on index_stays.subject_id = patients.subject_id
    left join next_episode_starts on index_stays.subject_id = next_episode_starts.subject_id

)

select * from indexed
