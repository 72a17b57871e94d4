-- One row per patient and distinct diagnosis (ICD version + code): the grain at which "how
-- many patients in a segment have this diagnosis" is counted, so that a code repeated across
-- a patient's admissions counts that patient once. Titles are looked up downstream, for the
-- few top codes only: on a full release this table has millions of rows, and carrying each
-- code's long title on every one of them would multiply its size for nothing.
with

admission_diagnoses as (

    select
        subject_id,
        icd_version,
        icd_code,
        num_diagnosis_rows
    from {{ ref('int_diagnoses_distinct_per_admission') }}

),

per_patient as (

    select
        subject_id,
        icd_version,
        icd_code,
        cast(sum(num_diagnosis_rows) as {{ dbt.type_bigint() }}) as num_diagnosis_rows
    from admission_diagnoses
    group by
        subject_id,
        icd_version,
        icd_code

)

select
    subject_id,
    icd_version,
    icd_code,
    num_diagnosis_rows
from per_patient
