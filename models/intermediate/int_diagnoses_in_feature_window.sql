-- One row per diagnosis row the features may see (docs block feature_index). A diagnosis has
-- no time of its own: it belongs to its admission, so it is kept exactly when its admission is
-- in int_admissions_in_feature_window. In whole-history mode, every row of hosp.diagnoses_icd.
-- A view in every mode: it is a pure filter at the largest grain of the project (6.4 million
-- rows in a full release), read by one model, int_diagnoses_distinct_per_admission, and counted
-- by the reconciliation tests. As a table it copied all of diagnoses_icd on every build.
{{ config(materialized='view') }}

with

diagnoses as (

    select
        subject_id,
        hadm_id,
        seq_num,
        icd_version,
        icd_code
    from {{ ref('stg_mimic__diagnoses_icd') }}

),

{%- if feature_index() is none %}

windowed as (

    select * from diagnoses

)

{%- else %}

admissions as (

    select hadm_id
    from {{ ref('int_admissions_in_feature_window') }}

),

-- admissions is unique on hadm_id: a semi-join that keeps each row once or leaves it out
windowed as (

    select diagnoses.*
    from diagnoses
    inner join admissions on diagnoses.hadm_id = admissions.hadm_id

)

{%- endif %}

select * from windowed
