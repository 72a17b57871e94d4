-- One row per patient with at least one coded diagnosis: chronic conditions and how much of
-- the patient's coding HCUP could classify.
with

diagnoses as (

    select
        subject_id,
        num_diagnosis_rows,
        chronic_status,
        has_chronic_determination
    from {{ ref('int_diagnoses_classified_chronic') }}

),

-- One row per patient and distinct code upstream (int_diagnoses_distinct_per_patient): a
-- chronic code in two admissions is one row, so counting rows counts distinct codes, and
-- both measures come from one pass.
aggregated as (

    select
        subject_id,
        count(case when chronic_status = 'chronic' then 1 end) as num_chronic_conditions,
        -- coverage is counted in billed diagnosis rows, each code weighed by how many it stands for
        cast(sum(num_diagnosis_rows) as {{ dbt.type_bigint() }}) as num_diagnosis_rows,
        cast(
            sum(case when has_chronic_determination then num_diagnosis_rows else 0 end)
            as {{ dbt.type_bigint() }}
        ) as num_rows_with_chronic_determination
    from diagnoses
    group by subject_id

)

select
    subject_id,
    num_chronic_conditions,
    num_diagnosis_rows,
    num_rows_with_chronic_determination
from aggregated
