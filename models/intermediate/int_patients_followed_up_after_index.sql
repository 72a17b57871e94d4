-- One row per patient with follow-up after their index (int_patients_indexed.has_follow_up):
-- their admissions in the year before the index (the no-model baseline) and what happened in
-- the outcome window (index, index + prospective_window_days]. Outcomes are read from the
-- whole release, never through the feature window: they are the future the segments must
-- predict. Definitions in the docs block prospective_validation. Empty in whole-history mode
-- (no patient has an index).
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

admissions as (

    select
        subject_id,
        hadm_id,
        admitted_at,
        discharged_at,
        is_hospital_death
    from {{ ref('stg_mimic__admissions') }}

),

icustays as (

    select
        subject_id,
        icu_admitted_at,
        icu_discharged_at
    from {{ ref('stg_mimic__icustays') }}

),

-- the baseline's input: what the features saw, so it is known at the index too
window_admissions as (

    select
        subject_id,
        admitted_at
    from {{ ref('int_admissions_in_feature_window') }}

),

-- The project's early-readmission rule (macros in hospital_timeline.sql, docs block
-- early_readmissions) over the whole timeline: an admission opens a new hospital episode unless
-- it overlaps the patient's earlier stays, and is an early readmission when that episode starts
-- within the window after the previous discharge, which did not end in death.
admissions_ordered as (

    select
        subject_id,
        hadm_id,
        admitted_at,
        discharged_at,
        is_hospital_death,
        max(discharged_at) over (
            partition by subject_id
            order by admitted_at, hadm_id
            rows between unbounded preceding and 1 preceding
        ) as prior_latest_discharged_at,
        max(case when is_hospital_death then 1 else 0 end) over (
            partition by subject_id
            order by admitted_at, hadm_id
            rows between unbounded preceding and 1 preceding
        ) = 1 as prior_hospital_death
    from admissions

),

admissions_flagged as (

    select
        subject_id,
        hadm_id,
        admitted_at,
        discharged_at,
        is_hospital_death,
        not {{ is_overlapping_stay('admitted_at', 'prior_latest_discharged_at') }}
        and {{ is_early_readmission(
            calendar_days_after_discharge('prior_latest_discharged_at', 'admitted_at'),
            'prior_hospital_death'
        ) }} as is_early_readmission
    from admissions_ordered

),

-- many admissions to one indexed patient (unique on subject_id): no fan-out; each stay is
-- clipped to the window for the days it spends there
admissions_in_window as (

    select
        admissions_flagged.subject_id,
        admissions_flagged.admitted_at > indexed.index_at
        and admissions_flagged.admitted_at <= indexed.window_end_at as is_admitted_in_window,
        admissions_flagged.is_early_readmission,
        admissions_flagged.is_hospital_death
        and admissions_flagged.discharged_at > indexed.index_at
        and admissions_flagged.discharged_at <= indexed.window_end_at as is_hospital_death_in_window,
        {{ seconds_within_window(
            'admissions_flagged.admitted_at', 'admissions_flagged.discharged_at',
            'indexed.index_at', 'indexed.window_end_at'
        ) }} as bed_seconds_in_window
    from admissions_flagged
    inner join indexed on admissions_flagged.subject_id = indexed.subject_id

),

admission_outcomes as (

    select
        subject_id,
        count(case when is_admitted_in_window then 1 end) as admissions,
        {{ days_from_seconds('sum(bed_seconds_in_window)') }} as bed_days,
        count(case when is_admitted_in_window and is_early_readmission then 1 end) as early_readmissions,
        max(case when is_hospital_death_in_window then 1 else 0 end) as died_in_hospital
    from admissions_in_window
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

-- the baseline: admissions that started in the year up to the index (all seen by the features;
-- the first admission opens it with the 'first_year' index)
prior_year as (

    select
        window_admissions.subject_id,
        count(*) as prior_year_admissions
    from window_admissions
    inner join indexed on window_admissions.subject_id = indexed.subject_id
    where window_admissions.admitted_at >= {{ dbt.dateadd('day', -window_days, 'indexed.index_at') }}
    group by window_admissions.subject_id

),

-- every input is unique on subject_id: one row per indexed patient
joined as (

    select
        indexed.subject_id,
        indexed.index_at,
        coalesce(prior_year.prior_year_admissions, 0) as prior_year_admissions,
        coalesce(admission_outcomes.admissions, 0) as admissions,
        coalesce(admission_outcomes.bed_days, 0) as bed_days,
        coalesce(icu_outcomes.icu_days, 0) as icu_days,
        coalesce(admission_outcomes.early_readmissions, 0) as early_readmissions,
        case
            when admission_outcomes.died_in_hospital = 1 then 1
            when
                patients.date_of_death > cast(indexed.index_at as date)
                and patients.date_of_death <= cast(indexed.window_end_at as date)
                then 1
            else 0
        end as died
    from indexed
    inner join patients on indexed.subject_id = patients.subject_id
    left join admission_outcomes on indexed.subject_id = admission_outcomes.subject_id
    left join icu_outcomes on indexed.subject_id = icu_outcomes.subject_id
    left join prior_year on indexed.subject_id = prior_year.subject_id

)

select
    subject_id,
    index_at,
    prior_year_admissions,
    admissions,
    bed_days,
    icu_days,
    early_readmissions,
    died
from joined
