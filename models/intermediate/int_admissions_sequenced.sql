-- One row per admission the features may see (int_admissions_in_feature_window): its place in
-- the patient's hospital timeline (int_admissions_grouped_to_episodes, every admission of the
-- release) and its episode's readmission flags (int_episodes_flagged_for_readmission), as they
-- were known when the window closed, with the age at admission. The rules are in the docs
-- blocks `hospital_episode`, `early_readmissions` and `readmission_rate`.
with

windowed as (

    select hadm_id
    from {{ ref('int_admissions_in_feature_window') }}

),

timeline as (

    select
        subject_id,
        hadm_id,
        admitted_at,
        discharged_at,
        admit_year,
        encounter_class,
        is_counted_stay,
        is_emergency_admission,
        is_hospital_death,
        admission_sequence,
        continues_previous_stay,
        episode_number,
        is_closing_stay,
        is_opening_counted_stay
    from {{ ref('int_admissions_grouped_to_episodes') }}

),

episodes as (

    select
        subject_id,
        episode_number,
        days_since_previous_discharge,
        is_early_readmission,
        is_index_episode
    from {{ ref('int_episodes_flagged_for_readmission') }}

),

patients as (

    select
        subject_id,
        anchor_age,
        anchor_year
    from {{ ref('stg_mimic__patients') }}

),

-- windowed, timeline and patients are unique on their keys and episodes on (subject_id,
-- episode_number), all tested: these joins keep one row per windowed admission.
joined as (

    select
        timeline.subject_id,
        timeline.hadm_id,
        timeline.admitted_at,
        timeline.discharged_at,
        -- MIMIC-IV's documented rule for the age at an admission
        patients.anchor_age + timeline.admit_year - patients.anchor_year as age_at_admission,
        timeline.encounter_class,
        timeline.is_counted_stay,
        timeline.is_emergency_admission,
        timeline.is_hospital_death,
        timeline.admission_sequence,
        timeline.episode_number,
        timeline.continues_previous_stay,
        timeline.is_opening_counted_stay,
        -- the interval and the readmission belong to the stay that opens a counted episode
        case
            when timeline.is_opening_counted_stay then episodes.days_since_previous_discharge
        end as days_since_previous_discharge,
        timeline.is_opening_counted_stay and episodes.is_early_readmission as is_early_readmission,
        -- an index stay closes a counted episode alive; in the window only if the whole
        -- episode is (its closing stay is discharged last)
        timeline.is_closing_stay and episodes.is_index_episode as is_readmission_index_stay
    from windowed
    inner join timeline on windowed.hadm_id = timeline.hadm_id
    inner join patients on timeline.subject_id = patients.subject_id
    inner join episodes
        on
            timeline.subject_id = episodes.subject_id
            and timeline.episode_number = episodes.episode_number

),

-- Whether an index stay is followed by an early readmission, among the readmissions the
-- window shows: the next counted episode must be in it too, or it was not known yet.
openings_in_window as (

    select
        subject_id,
        episode_number,
        lead(is_early_readmission) over (
            partition by subject_id order by episode_number
        ) as next_is_early_readmission
    from joined
    where is_opening_counted_stay

)

-- openings_in_window is unique on (subject_id, episode_number): no fan-out
select
    joined.subject_id,
    joined.hadm_id,
    joined.admitted_at,
    joined.discharged_at,
    joined.age_at_admission,
    joined.encounter_class,
    joined.is_counted_stay,
    joined.is_emergency_admission,
    joined.is_hospital_death,
    joined.admission_sequence,
    joined.episode_number,
    joined.continues_previous_stay,
    joined.is_opening_counted_stay,
    joined.days_since_previous_discharge,
    joined.is_early_readmission,
    joined.is_readmission_index_stay,
    joined.is_readmission_index_stay and coalesce(openings_in_window.next_is_early_readmission, false)
        as is_followed_by_early_readmission
from joined
left join openings_in_window
    on
        joined.subject_id = openings_in_window.subject_id
        and joined.episode_number = openings_in_window.episode_number
