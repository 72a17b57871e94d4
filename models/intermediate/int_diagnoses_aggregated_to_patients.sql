-- One row per patient with at least one coded diagnosis. Built on the patient x code grain,
-- so counting a patient's rows there counts distinct codes: no count(distinct) over text.
with

patient_diagnoses as (

    select
        subject_id,
        icd_version,
        icd_code,
        num_diagnosis_rows
    from {{ ref('int_diagnoses_distinct_per_patient') }}

),

aggregated as (

    select
        subject_id,
        cast(sum(num_diagnosis_rows) as {{ dbt.type_bigint() }}) as num_diagnosis_rows,
        -- a code is its version and code together; a row missing either is no code to count
        count(case when icd_version is not null and icd_code is not null then 1 end)
            as num_unique_icd_diagnoses
    from patient_diagnoses
    group by subject_id

)

select
    subject_id,
    num_diagnosis_rows,
    num_unique_icd_diagnoses
from aggregated
