-- One row per patient and distinct diagnosis (ICD version + code), with its title: the grain
-- at which "how many patients in a segment have this diagnosis" is counted, so that a code
-- repeated across a patient's admissions counts that patient once.
with

diagnoses as (

    select
        subject_id,
        hadm_id,
        icd_version,
        icd_code
    from {{ ref('stg_mimic__diagnoses_icd') }}

),

per_patient as (

    select
        subject_id,
        icd_version,
        icd_code,
        count(distinct hadm_id) as num_admissions_coded
    from diagnoses
    group by
        subject_id,
        icd_version,
        icd_code

),

titles as (

    select
        icd_version,
        icd_code,
        long_title
    from {{ ref('stg_mimic__d_icd_diagnoses') }}

)

-- the dictionary is unique on (version, code) (tested), so the join keeps the grain
select
    per_patient.subject_id,
    per_patient.icd_version,
    per_patient.icd_code,
    coalesce(titles.long_title, 'Unknown code') as long_title,
    per_patient.num_admissions_coded
from per_patient
left join titles
    on
        per_patient.icd_version = titles.icd_version
        and per_patient.icd_code = titles.icd_code
