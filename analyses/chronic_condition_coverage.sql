-- How much of the coding HCUP's chronic condition indicators can classify, per ICD version
-- (the coverage table of the `chronic_determination_coverage` docs block).
-- Run: DBT_PROFILES_DIR=. .venv/bin/dbt show -s chronic_condition_coverage
with

classified as (

    select
        icd_version,
        icd_code,
        chronic_status,
        has_chronic_determination
    from {{ ref('int_diagnoses_classified_chronic') }}

)

select
    icd_version,
    count(*) as diagnosis_rows,
    sum(case when chronic_status = 'chronic' then 1 else 0 end) as chronic_rows,
    sum(case when chronic_status = 'not_chronic' then 1 else 0 end) as not_chronic_rows,
    sum(case when chronic_status = 'no_determination' then 1 else 0 end) as no_determination_rows,
    sum(case when chronic_status = 'not_in_reference' then 1 else 0 end) as not_in_reference_rows,
    count(distinct case when chronic_status = 'not_in_reference' then icd_code end)
        as codes_not_in_reference,
    avg(case when has_chronic_determination then 1.0 else 0.0 end) as coverage
from classified
group by icd_version
order by icd_version
