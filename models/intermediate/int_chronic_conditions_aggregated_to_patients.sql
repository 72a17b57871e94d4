-- One row per patient with at least one coded diagnosis: chronic conditions and how much of
-- the patient's coding HCUP could classify.
with

diagnoses as (

    select
        subject_id,
        icd_version,
        icd_code,
        chronic_status,
        has_chronic_determination
    from {{ ref('int_diagnoses_classified_chronic') }}

),

-- A diagnosis is its ICD version and code together: the same code string names different
-- conditions in ICD-9-CM and ICD-10-CM. Deduplicating on the two columns (rather than
-- counting distinct version:code strings) avoids building a string for each of the millions
-- of rows of a full release.
chronic_diagnoses as (

    select distinct
        subject_id,
        icd_version,
        icd_code
    from diagnoses
    where chronic_status = 'chronic'

),

chronic_per_patient as (

    select
        subject_id,
        count(*) as num_chronic_conditions
    from chronic_diagnoses
    group by subject_id

),

coverage_per_patient as (

    select
        subject_id,
        count(*) as num_diagnosis_rows,
        count(case when has_chronic_determination then 1 end) as num_rows_with_chronic_determination
    from diagnoses
    group by subject_id

),

aggregated as (

    select
        coverage_per_patient.subject_id,
        coalesce(chronic_per_patient.num_chronic_conditions, 0) as num_chronic_conditions,
        coverage_per_patient.num_diagnosis_rows,
        coverage_per_patient.num_rows_with_chronic_determination
    from coverage_per_patient
    left join chronic_per_patient on coverage_per_patient.subject_id = chronic_per_patient.subject_id

)

select * from aggregated
