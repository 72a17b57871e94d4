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

aggregated as (

    select
        subject_id,
        count(*) as num_diagnosis_rows,
        -- A code is identified by version and code together: the same string can name
        -- different conditions in ICD-9-CM and ICD-10-CM.
        count(
            distinct {{ icd_diagnosis_key() }}
        ) as num_unique_icd_diagnoses,
        count(distinct hadm_id) as num_admissions_with_diagnoses
    from diagnoses
    group by subject_id

)

select * from aggregated
