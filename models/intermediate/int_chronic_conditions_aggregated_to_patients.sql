-- One row per patient with at least one coded diagnosis: chronic conditions and how much of
-- the patient's coding HCUP could classify.
with

diagnoses as (

    select
        subject_id,
        icd_version,
        icd_code,
        num_diagnosis_rows,
        chronic_status,
        has_chronic_determination
    from {{ ref('int_diagnoses_classified_chronic') }}

),

-- A diagnosis is its ICD version and code together: the same code string names different
-- conditions in ICD-9-CM and ICD-10-CM. The input is one row per admission and code, so a
-- code coded in several admissions is kept once here (on the two columns, rather than
-- counting distinct version:code strings, to build no string per row of a full release).
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
        -- coverage is counted in billed diagnosis rows, each code weighed by how many it stands for
        cast(sum(num_diagnosis_rows) as {{ dbt.type_bigint() }}) as num_diagnosis_rows,
        cast(
            sum(case when has_chronic_determination then num_diagnosis_rows else 0 end)
            as {{ dbt.type_bigint() }}
        ) as num_rows_with_chronic_determination
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
