-- One row per admission, placed in its patient's own timeline: age at admission, emergency
-- and ED flags, hospital episodes and early readmissions. Assembles the admission's episode
-- (int_admissions_grouped_to_episodes) and that episode's readmission flags
-- (int_episodes_flagged_for_readmission); the rules are in the docs blocks `hospital_episode`,
-- `early_readmissions` and `readmission_rate`.
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
        is_hospital_death,
        admission_sequence,
        is_overlapping_stay,
        episode_number,
        is_closing_stay
    from {{ ref('int_admissions_grouped_to_episodes') }}

),

episodes as (

    select
        subject_id,
        episode_number,
        episode_ended_in_death,
        days_since_previous_discharge,
        is_early_readmission,
        next_episode_is_early_readmission
    from {{ ref('int_episodes_flagged_for_readmission') }}

),

patients as (

    select
        subject_id,
        anchor_age,
        anchor_year
    from {{ ref('stg_mimic__patients') }}

),

-- Many admissions to one patient and to one episode; patients is unique on subject_id and
-- episodes on (subject_id, episode_number), both tested: these joins cannot fan out.
sequenced as (

    select
        admissions.subject_id,
        admissions.hadm_id,
        admissions.admitted_at,
        admissions.discharged_at,
        -- MIMIC-IV's documented rule for the age at an admission
        patients.anchor_age + admissions.admit_year - patients.anchor_year as age_at_admission,
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
        admissions.is_closing_stay and not episodes.episode_ended_in_death as is_readmission_index_stay,
        admissions.is_closing_stay
        and not episodes.episode_ended_in_death
        and episodes.next_episode_is_early_readmission as is_followed_by_early_readmission
    from admissions
    inner join patients on admissions.subject_id = patients.subject_id
    inner join episodes
        on
            admissions.subject_id = episodes.subject_id
            and admissions.episode_number = episodes.episode_number

)

select * from sequenced
