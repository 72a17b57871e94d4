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

aggregated as (

    select
        subject_id,
        -- distinct codes (version and code together): a code in several admissions counts once
        count(
            distinct case
                when chronic_status = 'chronic'
                    then {{ icd_diagnosis_key() }}
            end
        ) as num_chronic_conditions,
        count(*) as num_diagnosis_rows,
        count(case when has_chronic_determination then 1 end) as num_rows_with_chronic_determination
    from diagnoses
    group by subject_id

)

select * from aggregated
