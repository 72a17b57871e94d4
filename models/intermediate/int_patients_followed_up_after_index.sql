-- One row per patient with follow-up after their index (int_patients_indexed.has_follow_up):
-- their hospitalizations in the year before the index (the no-model baseline) and what
-- happened in the outcome window (index, index + prospective_window_days]. Outcomes are read
-- from the whole release, never through the feature window: they are the future the segments
-- must predict. Hospitalizations and early readmissions are counted as var
-- readmission_definition counts them; bed-days and deaths from every stay. LACE at the index is
-- the score of the patient's last index discharge the features saw (discharged by the index,
-- scored from what was known then), and LACE's own outcome is a death or an unplanned
-- readmission within readmission_window_days of an index discharge, falling in the window.
-- Definitions in the docs blocks prospective_validation and prospective_comparison. Empty in
-- whole-history mode (no patient has an index).
{%- set window_days = prospective_window_days() %}
with

indexed as (

    select
        subject_id,
        index_at,
        {{ dbt.dateadd('day', window_days, 'index_at') }} as window_end_at
    from {{ ref('int_patients_indexed') }}
    where has_follow_up

),

patients as (

    select
        subject_id,
        date_of_death
    from {{ ref('stg_mimic__patients') }}

),

-- every stay of the release, for the days spent in hospital and deaths in hospital
stays as (

    select
        subject_id,
        admitted_at,
        discharged_at,
        is_hospital_death
    from {{ ref('int_admissions_grouped_to_episodes') }}

),

-- the hospitalizations var readmission_definition counts, with the project's early-readmission
-- rule (docs block early_readmissions), over the whole release
episodes as (

    select
        subject_id,
        episode_admitted_at,
        is_early_readmission
    from {{ ref('int_episodes_flagged_for_readmission') }}
    where is_counted_episode

),

icustays as (

    select
        subject_id,
        icu_admitted_at,
        icu_discharged_at
    from {{ ref('stg_mimic__icustays') }}

),

-- the discharges LACE scores (left alive, counted), over the whole release: a death within
-- readmission_window_days of one is LACE's outcome
index_discharges as (

    select
        subject_id,
        episode_discharged_at
    from {{ ref('int_episodes_flagged_for_readmission') }}
    where is_index_episode

),

-- LACE at the index: each patient's last index discharge the feature window holds (at most one
-- row per patient)
lace_at_index as (

    select
        subject_id,
        lace_score,
        lace_risk_band
    from {{ ref('int_index_discharges_last_per_patient') }}

),

-- the baseline's input: the counted hospitalizations the features saw open, known at the index
window_episode_openings as (

    select
        subject_id,
        admitted_at
    from {{ ref('int_admissions_sequenced') }}
    where is_opening_counted_stay

),

-- many stays to one indexed patient (unique on subject_id): no fan-out; each stay is clipped
-- to the window for the days it spends there
stays_in_window as (

    select
        stays.subject_id,
        stays.is_hospital_death
        and stays.discharged_at > indexed.index_at
        and stays.discharged_at <= indexed.window_end_at as is_hospital_death_in_window,
        {{ seconds_within_window(
            'stays.admitted_at', 'stays.discharged_at',
            'indexed.index_at', 'indexed.window_end_at'
        ) }} as bed_seconds_in_window
    from stays
    inner join indexed on stays.subject_id = indexed.subject_id

),

stay_outcomes as (

    select
        subject_id,
        {{ days_from_seconds('sum(bed_seconds_in_window)') }} as bed_days,
        max(case when is_hospital_death_in_window then 1 else 0 end) as died_in_hospital
    from stays_in_window
    group by subject_id

),

-- many episodes to one indexed patient: no fan-out; re-grained to the patient below
episodes_in_window as (

    select
        episodes.subject_id,
        episodes.is_early_readmission
    from episodes
    inner join indexed on episodes.subject_id = indexed.subject_id
    where
        episodes.episode_admitted_at > indexed.index_at
        and episodes.episode_admitted_at <= indexed.window_end_at

),

episode_outcomes as (

    select
        subject_id,
        count(*) as admissions,
        count(case when is_early_readmission then 1 end) as early_readmissions
    from episodes_in_window
    group by subject_id

),

icu_in_window as (

    select
        icustays.subject_id,
        {{ seconds_within_window(
            'icustays.icu_admitted_at', 'icustays.icu_discharged_at',
            'indexed.index_at', 'indexed.window_end_at'
        ) }} as icu_seconds_in_window
    from icustays
    inner join indexed on icustays.subject_id = indexed.subject_id

),

icu_outcomes as (

    select
        subject_id,
        {{ days_from_seconds('sum(icu_seconds_in_window)') }} as icu_days
    from icu_in_window
    group by subject_id

),

-- LACE's outcome, its deaths: a death in the window, within readmission_window_days (calendar
-- days) of an index discharge that came before it; many discharges to one patient, made distinct
deaths_after_index_discharge as (

    select distinct indexed.subject_id
    from indexed
    inner join patients on indexed.subject_id = patients.subject_id
    inner join index_discharges on indexed.subject_id = index_discharges.subject_id
    where
        patients.date_of_death > cast(indexed.index_at as date)
        and patients.date_of_death <= cast(indexed.window_end_at as date)
        and cast(index_discharges.episode_discharged_at as date) <= patients.date_of_death
        and {{ calendar_days_after_discharge(
            'index_discharges.episode_discharged_at', 'patients.date_of_death'
        ) }} <= {{ readmission_window_days() }}

),

-- the baseline: counted hospitalizations opened in the year up to the index (all seen by the
-- features; the first admission opens it with the 'first_year' index)
prior_year as (

    select
        window_episode_openings.subject_id,
        count(*) as prior_year_admissions
    from window_episode_openings
    inner join indexed on window_episode_openings.subject_id = indexed.subject_id
    where window_episode_openings.admitted_at >= {{ dbt.dateadd('day', -window_days, 'indexed.index_at') }}
    group by window_episode_openings.subject_id

),

-- every input is unique on subject_id: one row per indexed patient
joined as (

    select
        indexed.subject_id,
        indexed.index_at,
        coalesce(prior_year.prior_year_admissions, 0) as prior_year_admissions,
        coalesce(episode_outcomes.admissions, 0) as admissions,
        coalesce(stay_outcomes.bed_days, 0) as bed_days,
        coalesce(icu_outcomes.icu_days, 0) as icu_days,
        coalesce(episode_outcomes.early_readmissions, 0) as early_readmissions,
        case
            when stay_outcomes.died_in_hospital = 1 then 1
            when
                patients.date_of_death > cast(indexed.index_at as date)
                and patients.date_of_death <= cast(indexed.window_end_at as date)
                then 1
            else 0
        end as died,
        -- LACE's outcome: an early readmission (unplanned, within the window days of an index
        -- discharge) or a death within as many days of one
        case
            when coalesce(episode_outcomes.early_readmissions, 0) > 0 then 1
            when deaths_after_index_discharge.subject_id is not null then 1
            else 0
        end as early_readmission_or_death,
        lace_at_index.lace_score as lace_score_at_index,
        lace_at_index.lace_risk_band as lace_risk_band_at_index
    from indexed
    inner join patients on indexed.subject_id = patients.subject_id
    left join stay_outcomes on indexed.subject_id = stay_outcomes.subject_id
    left join episode_outcomes on indexed.subject_id = episode_outcomes.subject_id
    left join icu_outcomes on indexed.subject_id = icu_outcomes.subject_id
    left join prior_year on indexed.subject_id = prior_year.subject_id
    left join deaths_after_index_discharge on indexed.subject_id = deaths_after_index_discharge.subject_id
    left join lace_at_index on indexed.subject_id = lace_at_index.subject_id

)

select
    subject_id,
    index_at,
    prior_year_admissions,
    admissions,
    bed_days,
    icu_days,
    early_readmissions,
    died,
    early_readmission_or_death,
    lace_score_at_index,
    lace_risk_band_at_index
from joined
