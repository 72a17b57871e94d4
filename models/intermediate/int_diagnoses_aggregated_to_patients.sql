-- One row per patient with at least one coded diagnosis.
with

diagnoses as (

    select
        subject_id,
        hadm_id,
        icd_version,
        icd_code
    from {{ ref('stg_mimic__diagnoses_icd') }}

),

-- A code is identified by version and code together: the same string can name different
-- conditions in ICD-9-CM and ICD-10-CM. One row per patient and distinct code, so that
-- counting rows counts codes (cheaper at full scale than a distinct over concatenated text).
distinct_codes as (

    select distinct
        subject_id,
        icd_version,
        icd_code
    from diagnoses
    where icd_version is not null and icd_code is not null

),

codes_per_patient as (

    select
        subject_id,
        count(*) as num_unique_icd_diagnoses
    from distinct_codes
    group by subject_id

),

rows_per_patient as (

    select
        subject_id,
        count(*) as num_diagnosis_rows,
        count(distinct hadm_id) as num_admissions_with_diagnoses
    from diagnoses
    group by subject_id

),

-- both sides are at patient grain, so the join cannot fan out
aggregated as (

    select
        rows_per_patient.subject_id,
        rows_per_patient.num_diagnosis_rows,
        coalesce(codes_per_patient.num_unique_icd_diagnoses, 0) as num_unique_icd_diagnoses,
        rows_per_patient.num_admissions_with_diagnoses
    from rows_per_patient
    left join codes_per_patient on rows_per_patient.subject_id = codes_per_patient.subject_id

)

select * from aggregated
