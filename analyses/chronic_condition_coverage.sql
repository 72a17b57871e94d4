-- How much of the coding HCUP's chronic condition indicators can classify, per ICD version
-- (the coverage table of the `chronic_determination_coverage` docs block).
-- Run: DBT_PROFILES_DIR=. .venv/bin/dbt show -s chronic_condition_coverage
with

classified as (

    select
        icd_version,
        icd_code,
        num_diagnosis_rows,
        chronic_status,
        has_chronic_determination
    from {{ ref('int_diagnoses_classified_chronic') }}

)

-- one row per patient and code, weighed by the billed rows it stands for: counts are rows
select
    icd_version,
    sum(num_diagnosis_rows) as diagnosis_rows,
    sum(case when chronic_status = 'chronic' then num_diagnosis_rows else 0 end) as chronic_rows,
    sum(case when chronic_status = 'not_chronic' then num_diagnosis_rows else 0 end) as not_chronic_rows,
    sum(case when chronic_status = 'no_determination' then num_diagnosis_rows else 0 end)
        as no_determination_rows,
    sum(case when chronic_status = 'not_in_reference' then num_diagnosis_rows else 0 end)
        as not_in_reference_rows,
    count(distinct case when chronic_status = 'not_in_reference' then icd_code end)
        as codes_not_in_reference,
    sum(case when has_chronic_determination then num_diagnosis_rows else 0 end) * 1.0
    / sum(num_diagnosis_rows) as coverage
from classified
group by icd_version
order by icd_version
