-- One row per patient discharged alive at least once: the index discharge of the return
-- curves (the end of the patient's first counted hospital episode that ended alive) and what
-- followed it, in calendar days within the patient's own timeline. One index per patient, so
-- frequent flyers weigh no more than anyone else (docs block `return_curve_index_discharge`).
-- Follow-up reads every admission of the release, whatever the feature window: a return after
-- the index of index mode is the future the curves measure.
with

episodes as (

    select
        subject_id,
        episode_number,
        episode_admitted_at,
        episode_discharged_at,
        is_index_episode,
        next_episode_number,
        next_episode_admitted_at
    from {{ ref('int_episodes_flagged_for_readmission') }}

),

stays as (

    select
        hadm_id,
        subject_id,
        episode_number,
        continues_previous_stay,
        is_closing_stay
    from {{ ref('int_admissions_grouped_to_episodes') }}

),

patients as (

    select
        subject_id,
        date_of_death
    from {{ ref('stg_mimic__patients') }}

),

-- the patient's first counted episode left alive (readmission_definition: in 'inpatient'
-- mode an observation stay is never the index)
index_episodes_ranked as (

    select
        subject_id,
        episode_number,
        episode_discharged_at,
        next_episode_number,
        next_episode_admitted_at,
        row_number() over (partition by subject_id order by episode_number) as index_rank
    from episodes
    where is_index_episode

),

index_episodes as (

    select
        subject_id,
        episode_number as index_episode_number,
        episode_discharged_at as index_discharged_at,
        next_episode_number,
        next_episode_admitted_at as return_admitted_at
    from index_episodes_ranked
    where index_rank = 1

),

-- the stay that closes an episode and the one that opens it: one of each per episode
closing_stays as (

    select
        subject_id,
        episode_number,
        hadm_id
    from stays
    where is_closing_stay

),

opening_stays as (

    select
        subject_id,
        episode_number,
        hadm_id
    from stays
    where not continues_previous_stay

),

-- all at patient grain, or one row per episode joined on its key: one-to-one
indexed as (

    select
        index_episodes.subject_id,
        closing_stays.hadm_id as index_hadm_id,
        index_episodes.index_episode_number,
        index_episodes.index_discharged_at,
        cast(index_episodes.index_discharged_at as date) as index_discharge_date,
        opening_stays.hadm_id as return_hadm_id,
        index_episodes.return_admitted_at,
        patients.date_of_death,
        -- calendar days, as readmission windows are counted (docs block early_readmissions)
        {{ calendar_days_after_discharge(
            'index_episodes.index_discharged_at', 'index_episodes.return_admitted_at'
        ) }} as days_to_return,
        cast({{ dbt.datediff(
            'cast(index_episodes.index_discharged_at as date)',
            'patients.date_of_death',
            'day'
        ) }} as {{ dbt.type_bigint() }}) as days_to_death
    from index_episodes
    inner join patients on index_episodes.subject_id = patients.subject_id
    inner join closing_stays
        on
            index_episodes.subject_id = closing_stays.subject_id
            and index_episodes.index_episode_number = closing_stays.episode_number
    left join opening_stays
        on
            index_episodes.subject_id = opening_stays.subject_id
            and index_episodes.next_episode_number = opening_stays.episode_number

)

select
    subject_id,
    index_hadm_id,
    index_episode_number,
    index_discharged_at,
    index_discharge_date,
    return_hadm_id,
    return_admitted_at,
    date_of_death,
    days_to_return,
    days_to_death
from indexed
