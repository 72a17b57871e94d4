-- One row per patient in hosp.patients: utilization, clinical complexity, retention, acuity,
-- outcomes and demographics, assembled from the per-patient intermediate models. The one model
-- the mart patient_features and the clustering inputs (int_patients_classified_by_population,
-- int_patients_prepared_for_segmentation) read the features from, so no intermediate model
-- reads a mart. Every input is already at patient grain, so these left joins cannot fan out;
-- the reconciliation checks in _intermediate__models.yml prove it on every build.
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
        num_inpatient_stays,
        num_observation_stays,
        total_length_of_stay_days,
        avg_length_of_stay_days,
        last_admitted_at,
        last_discharged_at,
        last_admit_year
    from {{ ref('int_admissions_aggregated_to_patients') }}

),

admission_timeline as (

    select
        subject_id,
        early_readmissions,
        readmission_index_stays,
        index_stays_early_readmitted,
        median_days_between_admissions,
        emergency_admissions,
        hospital_deaths
    from {{ ref('int_admissions_sequenced_aggregated_to_patients') }}

),

ed_use as (

    select
        subject_id,
        ed_visits,
        ed_visits_without_admission,
        last_ed_arrived_at,
        max_ed_visits_in_365_days
    from {{ ref('int_ed_visits_aggregated_to_patients') }}

),

diagnoses as (

    select
        subject_id,
        num_unique_icd_diagnoses
    from {{ ref('int_diagnoses_aggregated_to_patients') }}

),

chronic_conditions as (

    select
        subject_id,
        num_chronic_conditions,
        num_diagnosis_rows,
        num_rows_with_chronic_determination
    from {{ ref('int_chronic_conditions_aggregated_to_patients') }}

),

charlson as (

    select
        subject_id,
        num_charlson_conditions,
        charlson_condition_score
    from {{ ref('int_charlson_conditions_aggregated_to_patients') }}

),

icustays as (

    select
        subject_id,
        icu_stay_count,
        total_icu_days
    from {{ ref('int_icustays_aggregated_to_patients') }}

),

-- The date the features are computed as of, and the death known by then: the estimated end
-- of the release in whole-history mode; the patient's index in index mode (docs block
-- feature_index), when a later death is not yet known.
as_of as (

    select
        subject_id,
        features_as_of_date as estimated_as_of_date,
        date_of_death_as_of as date_of_death
    from {{ ref('int_patients_indexed') }}

),

joined as (

    select
        patients.subject_id,
        patients.gender,
        patients.anchor_age,
        patients.anchor_year,
        patients.anchor_year_group,
        as_of.date_of_death,
        as_of.estimated_as_of_date,
        admissions.last_admitted_at,
        admissions.last_discharged_at,
        ed_use.last_ed_arrived_at,
        -- MIMIC-IV's documented rule for the age at an admission.
        patients.anchor_age + admissions.last_admit_year - patients.anchor_year as age_at_last_admission,
        admission_timeline.median_days_between_admissions,
        admission_timeline.index_stays_early_readmitted,
        chronic_conditions.num_diagnosis_rows,
        chronic_conditions.num_rows_with_chronic_determination,

        -- A patient with no admissions, diagnoses or ICU stays truly has zero of them.
        coalesce(admissions.num_admissions, 0) as num_admissions,
        coalesce(admissions.num_inpatient_stays, 0) as num_inpatient_stays,
        coalesce(admissions.num_observation_stays, 0) as num_observation_stays,
        coalesce(admissions.total_length_of_stay_days, 0) as total_length_of_stay_days,
        -- No stays: 0 days in hospital on average (documented; keeps the clustering input
        -- defined for every patient).
        coalesce(admissions.avg_length_of_stay_days, 0) as avg_length_of_stay_days,
        coalesce(diagnoses.num_unique_icd_diagnoses, 0) as num_unique_icd_diagnoses,
        coalesce(chronic_conditions.num_chronic_conditions, 0) as num_chronic_conditions,
        coalesce(charlson.num_charlson_conditions, 0) as num_charlson_conditions,
        coalesce(charlson.charlson_condition_score, 0) as charlson_condition_score,
        coalesce(admission_timeline.early_readmissions, 0) as early_readmissions,
        coalesce(admission_timeline.readmission_index_stays, 0) as readmission_index_stays,
        coalesce(admission_timeline.emergency_admissions, 0) as emergency_admissions,
        -- ED visits come from transfers: a patient never admitted may have them
        coalesce(ed_use.ed_visits, 0) as num_ed_visits,
        coalesce(ed_use.ed_visits_without_admission, 0) as num_ed_visits_without_admission,
        coalesce(ed_use.max_ed_visits_in_365_days, 0) as max_ed_visits_in_365_days,
        coalesce(admission_timeline.hospital_deaths, 0) as hospital_deaths,
        coalesce(icustays.icu_stay_count, 0) as icu_stay_count,
        coalesce(icustays.total_icu_days, 0) as total_icu_days

    from patients
    left join admissions on patients.subject_id = admissions.subject_id
    left join admission_timeline on patients.subject_id = admission_timeline.subject_id
    left join diagnoses on patients.subject_id = diagnoses.subject_id
    left join chronic_conditions on patients.subject_id = chronic_conditions.subject_id
    left join charlson on patients.subject_id = charlson.subject_id
    left join icustays on patients.subject_id = icustays.subject_id
    left join ed_use on patients.subject_id = ed_use.subject_id
    left join as_of on patients.subject_id = as_of.subject_id

),

derived as (

    select
        subject_id,
        num_admissions,
        num_inpatient_stays,
        num_observation_stays,
        avg_length_of_stay_days,
        total_length_of_stay_days,
        num_ed_visits,
        num_ed_visits_without_admission,
        max_ed_visits_in_365_days,
        num_unique_icd_diagnoses,
        num_chronic_conditions,
        num_charlson_conditions,
        charlson_condition_score,
        early_readmissions,
        readmission_index_stays,
        median_days_between_admissions,
        icu_stay_count,
        total_icu_days,
        gender,
        anchor_year_group,
        estimated_as_of_date,
        -- Within the patient's own timeline: both dates carry the same shift.
        -- NULL (not 0) for a patient never admitted: there is no last admission.
        -- bigint on every engine (PostgreSQL's date difference is an integer)
        cast(
            {{ dbt.datediff('cast(last_admitted_at as date)', 'estimated_as_of_date', 'day') }}
            as bigint
        ) as days_since_last_admission,
        -- NULL for a patient with no ED visit
        cast(
            {{ dbt.datediff('cast(last_ed_arrived_at as date)', 'estimated_as_of_date', 'day') }}
            as bigint
        ) as days_since_last_ed_visit,
        age_at_last_admission,
        -- conditions ever coded (hierarchy applied) + age points at the last admission;
        -- NULL for a patient never admitted, who has no age at admission
        charlson_condition_score + {{ charlson_age_points('age_at_last_admission') }}
            as charlson_comorbidity_index,
        num_chronic_conditions > 0 as has_chronic_condition,
        -- share of the patient's diagnosis rows HCUP classified; NULL with no diagnoses
        cast(num_rows_with_chronic_determination as {{ type_double() }}) / nullif(num_diagnosis_rows, 0)
            as chronic_determination_coverage,
        -- NULL with no index stay: a rate over nothing is undefined, not 0
        cast(index_stays_early_readmitted as {{ type_double() }}) / nullif(readmission_index_stays, 0)
            as readmission_rate,
        -- 0 with no admissions, like the other utilization inputs of the clustering
        coalesce(cast(emergency_admissions as {{ type_double() }}) / nullif(num_admissions, 0), 0)
            as emergency_admission_share,
        hospital_deaths > 0 as in_hospital_death,
        -- within the patient's timeline; NULL for a patient never discharged
        case
            when last_discharged_at is null then null
            else coalesce(
                {{ dbt.datediff('cast(last_discharged_at as date)', 'date_of_death', 'day') }}
                between 0 and 365,
                false
            )
        end as died_within_1y_of_last_discharge,
        -- any recorded death, in or out of hospital: outreach lists must never contact these
        date_of_death is not null or hospital_deaths > 0 as is_known_deceased
    from joined

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
