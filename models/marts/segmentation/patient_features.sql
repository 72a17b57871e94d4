-- One row per patient in hosp.patients: the features BI profiles and the segmentation clusters
-- on, as assembled in int_patient_features_assembled (which the clustering inputs read too),
-- published under the mart's contract.
with

features as (

    select
        subject_id,
        num_admissions,
        num_inpatient_stays,
        num_observation_stays,
        avg_length_of_stay_days,
        total_length_of_stay_days,
        days_since_last_admission,
        emergency_admission_share,
        num_ed_visits,
        num_ed_visits_without_admission,
        max_ed_visits_in_365_days,
        days_since_last_ed_visit,
        early_readmissions,
        readmission_index_stays,
        readmission_rate,
        median_days_between_admissions,
        num_unique_icd_diagnoses,
        charlson_comorbidity_index,
        charlson_condition_score,
        num_charlson_conditions,
        num_chronic_conditions,
        has_chronic_condition,
        chronic_determination_coverage,
        icu_stay_count,
        total_icu_days,
        in_hospital_death,
        died_within_1y_of_last_discharge,
        is_known_deceased,
        gender,
        age_at_last_admission,
        age_bucket,
        anchor_year_group,
        estimated_as_of_date
    from {{ ref('int_patient_features_assembled') }}

)

select
    subject_id,

    -- utilization
    num_admissions,
    num_inpatient_stays,
    num_observation_stays,
    avg_length_of_stay_days,
    total_length_of_stay_days,
    days_since_last_admission,
    emergency_admission_share,

    -- emergency department use
    num_ed_visits,
    num_ed_visits_without_admission,
    max_ed_visits_in_365_days,
    days_since_last_ed_visit,

    -- retention
    early_readmissions,
    readmission_index_stays,
    readmission_rate,
    median_days_between_admissions,

    -- clinical complexity
    num_unique_icd_diagnoses,
    charlson_comorbidity_index,
    charlson_condition_score,
    num_charlson_conditions,
    num_chronic_conditions,
    has_chronic_condition,
    chronic_determination_coverage,

    -- acuity
    icu_stay_count,
    total_icu_days,

    -- outcomes (profile columns for outreach lists, not clustering inputs)
    in_hospital_death,
    died_within_1y_of_last_discharge,
    is_known_deceased,

    -- demographics
    gender,
    age_at_last_admission,
    age_bucket,
    anchor_year_group,
    estimated_as_of_date

from features
