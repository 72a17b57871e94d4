-- One row per admission, placed in its patient's own timeline: age at admission, emergency
-- and ED flags, hospital episodes and early readmissions (within var readmission_window_days).
-- Every interval compares two dates of the same patient (MIMIC shifts dates per patient). The
-- rules are in the docs blocks `hospital_episode`, `early_readmissions` and `readmission_rate`.
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
    from {{ ref('stg_mimic__admissions') }}

),

patients as (

    select
        subject_id,
        anchor_age,
        anchor_year
    from {{ ref('stg_mimic__patients') }}

),

-- Many admissions to one patient (patients is unique on subject_id): cannot fan out.
ordered as (

    select
        admissions.subject_id,
        admissions.hadm_id,
        admissions.admitted_at,
        admissions.discharged_at,
        admissions.admission_type,
        admissions.ed_registered_at,
        admissions.is_hospital_death,
        -- MIMIC-IV's documented rule for the age at an admission
        patients.anchor_age + admissions.admit_year - patients.anchor_year as age_at_admission,
        row_number() over (
            partition by admissions.subject_id
            order by admissions.admitted_at, admissions.hadm_id
        ) as admission_sequence,
        -- the end of the patient's hospital time before this admission started
        max(admissions.discharged_at) over (
            partition by admissions.subject_id
            order by admissions.admitted_at, admissions.hadm_id
            rows between unbounded preceding and 1 preceding
        ) as prior_latest_discharged_at
    from admissions
    inner join patients on admissions.subject_id = patients.subject_id

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
        admission_type,
        ed_registered_at,
        is_hospital_death,
        age_at_admission,
        admission_sequence,
        coalesce(admitted_at < prior_latest_discharged_at, false) as is_overlapping_stay
    from ordered

),

episodes_numbered as (

    select
        subject_id,
        hadm_id,
        admitted_at,
        discharged_at,
        admission_type,
        ed_registered_at,
        is_hospital_death,
        age_at_admission,
        admission_sequence,
        is_overlapping_stay,
        sum(case when is_overlapping_stay then 0 else 1 end) over (
            partition by subject_id
            order by admitted_at, hadm_id
            rows between unbounded preceding and current row
        ) as episode_number,
        -- the admission discharged last closes the episode: the stay readmissions count against
        row_number() over (
            partition by subject_id
            order by discharged_at desc, hadm_id desc
        ) as discharge_rank_desc
    from overlaps_flagged

),

episodes as (

    select
        subject_id,
        episode_number,
        min(admitted_at) as episode_admitted_at,
        max(discharged_at) as episode_discharged_at,
        max(case when is_hospital_death then 1 else 0 end) = 1 as episode_ended_in_death
    from episodes_numbered
    group by subject_id, episode_number

),

episode_intervals as (

    select
        subject_id,
        episode_number,
        episode_admitted_at,
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
        episode_ended_in_death,
        previous_episode_ended_in_death,
        -- calendar days from the previous discharge, as readmission windows are counted
        {{ dbt.datediff(
            'cast(previous_episode_discharged_at as date)',
            'cast(episode_admitted_at as date)',
            'day'
        ) }} as days_since_previous_discharge
    from episode_intervals

),

episode_readmissions as (

    select
        subject_id,
        episode_number,
        episode_ended_in_death,
        days_since_previous_discharge,
        -- the window's last day is within it (day 30 of 30), the next is not; a death ends
        -- the timeline
        coalesce(
            not previous_episode_ended_in_death
            and days_since_previous_discharge <= {{ readmission_window_days() }},
            false
        ) as is_early_readmission
    from episode_gaps

),

episodes_flagged as (

    select
        subject_id,
        episode_number,
        episode_ended_in_death,
        days_since_previous_discharge,
        is_early_readmission,
        coalesce(
            lead(is_early_readmission) over (partition by subject_id order by episode_number),
            false
        ) as next_episode_is_early_readmission
    from episode_readmissions

),

episode_last_admissions as (

    select
        subject_id,
        episode_number,
        min(discharge_rank_desc) as last_discharge_rank_desc
    from episodes_numbered
    group by subject_id, episode_number

),

-- Many admissions to one episode; both episode CTEs are unique on (subject_id,
-- episode_number), so these joins cannot fan out.
sequenced as (

    select
        admissions.subject_id,
        admissions.hadm_id,
        admissions.admitted_at,
        admissions.discharged_at,
        admissions.age_at_admission,
        admissions.admission_type,
        admissions.admission_type in (
            {%- for admission_type in var('emergency_admission_types') %}
            '{{ admission_type }}'{{ "," if not loop.last }}
            {%- endfor %}
        ) as is_emergency_admission,
        admissions.ed_registered_at is not null as has_ed_visit,
        admissions.is_hospital_death,
        admissions.admission_sequence,
        admissions.episode_number,
        admissions.is_overlapping_stay,
        -- the interval and the readmission belong to the admission that opens the episode
        case
            when not admissions.is_overlapping_stay then episodes.days_since_previous_discharge
        end as days_since_previous_discharge,
        not admissions.is_overlapping_stay and episodes.is_early_readmission as is_early_readmission,
        -- an index stay closes its episode alive
        admissions.discharge_rank_desc = last_admissions.last_discharge_rank_desc
        and not episodes.episode_ended_in_death as is_readmission_index_stay,
        admissions.discharge_rank_desc = last_admissions.last_discharge_rank_desc
        and not episodes.episode_ended_in_death
        and episodes.next_episode_is_early_readmission as is_followed_by_early_readmission
    from episodes_numbered as admissions
    inner join episodes_flagged as episodes
        on
            admissions.subject_id = episodes.subject_id
            and admissions.episode_number = episodes.episode_number
    inner join episode_last_admissions as last_admissions
        on
            admissions.subject_id = last_admissions.subject_id
            and admissions.episode_number = last_admissions.episode_number

)

select * from sequenced
