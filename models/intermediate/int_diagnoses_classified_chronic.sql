-- One row per patient and distinct diagnosis code, with HCUP's chronic condition verdict on
-- the code (CCI for ICD-9-CM, CCIR for ICD-10-CM) and the number of diagnosis rows it stands
-- for, so coverage can still be counted in rows. See the `chronic_status` docs block.
-- The verdict belongs to the code, not to the admission, and every count made from it is per
-- patient: classifying int_diagnoses_distinct_per_patient classifies each code of a patient
-- once. A view: the one model that reads it (int_chronic_conditions_aggregated_to_patients)
-- aggregates it straight away, and as a table it copied millions of rows on a full release.
{{ config(materialized='view') }}

with

diagnoses as (

    select
        subject_id,
        icd_version,
        icd_code,
        num_diagnosis_rows
    from {{ ref('int_diagnoses_distinct_per_patient') }}

),

indicators as (

    select
        icd_version,
        icd_code,
        chronic_status
    from {{ ref('hcup_chronic_condition_indicators') }}

),

-- The reference is unique on (icd_version, icd_code), tested: a left join keeps every
-- diagnosis exactly once. Codes are matched exactly, version and code together.
classified as (

    select
        diagnoses.subject_id,
        diagnoses.icd_version,
        diagnoses.icd_code,
        diagnoses.num_diagnosis_rows,
        -- a code the reference does not list has no determination either, for a known reason
        coalesce(indicators.chronic_status, 'not_in_reference') as chronic_status,
        coalesce(indicators.chronic_status in ('chronic', 'not_chronic'), false)
            as has_chronic_determination
    from diagnoses
    left join indicators
        on
            diagnoses.icd_version = indicators.icd_version
            and diagnoses.icd_code = indicators.icd_code

)

select
    subject_id,
    icd_version,
    icd_code,
    num_diagnosis_rows,
    chronic_status,
    has_chronic_determination
from classified
