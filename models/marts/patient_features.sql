-- One row per patient in hosp.patients: utilization, clinical complexity, acuity and
-- demographics. Every input is already at patient grain, so these left joins cannot fan out;
-- the reconciliation tests in _marts.yml prove it on every build.
with

patients as (

    select
        subject_id,
        gender,
        anchor_age,
        anchor_year,
        anchor_year_group
    from {{ ref('stg_mimic__patients') }}

),

admissions as (

    select
        subject_id,
        num_admissions,
        total_length_of_stay_days,
        avg_length_of_stay_days,
        last_admitted_at,
        last_admit_year
    from {{ ref('int_admissions_aggregated_to_patients') }}

),

diagnoses as (

    select
        subject_id,
        num_unique_icd_diagnoses
    from {{ ref('int_diagnoses_aggregated_to_patients') }}

),

icustays as (

    select
        subject_id,
        icu_stay_count,
        total_icu_days
    from {{ ref('int_icustays_aggregated_to_patients') }}

),

as_of as (

    select
        subject_id,
        estimated_as_of_date
    from {{ ref('int_patients_as_of_estimated') }}

),

joined as (

    select
        patients.subject_id,
        patients.gender,
        patients.anchor_age,
        patients.anchor_year,
        patients.anchor_year_group,
        as_of.estimated_as_of_date,
        admissions.last_admitted_at,
        admissions.last_admit_year,

        -- A patient with no admissions, diagnoses or ICU stays truly has zero of them.
        coalesce(admissions.num_admissions, 0) as num_admissions,
        coalesce(admissions.total_length_of_stay_days, 0) as total_length_of_stay_days,
        -- No stays: 0 days in hospital on average (documented; keeps the clustering input
        -- defined for every patient).
        coalesce(admissions.avg_length_of_stay_days, 0) as avg_length_of_stay_days,
        coalesce(diagnoses.num_unique_icd_diagnoses, 0) as num_unique_icd_diagnoses,
        coalesce(icustays.icu_stay_count, 0) as icu_stay_count,
        coalesce(icustays.total_icu_days, 0) as total_icu_days

    from patients
    left join admissions on patients.subject_id = admissions.subject_id
    left join diagnoses on patients.subject_id = diagnoses.subject_id
    left join icustays on patients.subject_id = icustays.subject_id
    left join as_of on patients.subject_id = as_of.subject_id

),

derived as (

    select
        subject_id,
        num_admissions,
        avg_length_of_stay_days,
        total_length_of_stay_days,
        num_unique_icd_diagnoses,
        icu_stay_count,
        total_icu_days,
        gender,
        anchor_year_group,
        estimated_as_of_date,
        -- Within the patient's own timeline: both dates carry the same shift.
        -- NULL (not 0) for a patient never admitted: there is no last admission.
        {{ dbt.datediff('cast(last_admitted_at as date)', 'estimated_as_of_date', 'day') }}
            as days_since_last_admission,
        -- MIMIC-IV's documented rule for the age at an admission.
        anchor_age + last_admit_year - anchor_year as age_at_last_admission
    from joined

)

select
    subject_id,

    -- utilization
    num_admissions,
    avg_length_of_stay_days,
    total_length_of_stay_days,
    days_since_last_admission,

    -- clinical complexity
    num_unique_icd_diagnoses,

    -- acuity
    icu_stay_count,
    total_icu_days,

    -- demographics
    gender,
    age_at_last_admission,
    case
        when age_at_last_admission is null then 'Unknown'
        when age_at_last_admission < 45 then '18-44'
        when age_at_last_admission < 65 then '45-64'
        when age_at_last_admission < 80 then '65-79'
        else '80+'
    end as age_bucket,
    anchor_year_group,
    estimated_as_of_date

from derived
