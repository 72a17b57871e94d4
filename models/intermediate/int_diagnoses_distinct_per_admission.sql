-- One row per admission and distinct diagnosis (ICD version + code): the one place coded
-- diagnoses are de-duplicated. Every diagnosis model reads this grain, directly (per patient,
-- Charlson) or through the per-patient grain (HCUP chronic), so none of them repeats the rule;
-- num_diagnosis_rows keeps how many billed rows each one stands for, so row counts still
-- reconcile with hosp.diagnoses_icd.
with

diagnoses as (

    select
        subject_id,
        hadm_id,
        icd_version,
        icd_code
    from {{ ref('int_diagnoses_in_feature_window') }}

),

-- A code is its version and code together: the same string names different conditions in
-- ICD-9-CM and ICD-10-CM. Grouping on the two columns (not a concatenated key) is cheaper on
-- the millions of rows of a full release.
per_admission as (

    select
        subject_id,
        hadm_id,
        icd_version,
        icd_code,
        count(*) as num_diagnosis_rows
    from diagnoses
    group by
        subject_id,
        hadm_id,
        icd_version,
        icd_code

)

select
    subject_id,
    hadm_id,
    icd_version,
    icd_code,
    num_diagnosis_rows
from per_admission
