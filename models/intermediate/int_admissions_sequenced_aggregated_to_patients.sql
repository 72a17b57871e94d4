-- One row per patient with at least one admission: retention and utilization counts from
-- the admission timeline, under var readmission_definition. Aggregated here, before any join,
-- so nothing is double counted.
with

admissions as (

    select
        subject_id,
        is_emergency_admission,
        is_hospital_death,
        days_since_previous_discharge,
        is_early_readmission,
        is_readmission_index_stay,
        is_followed_by_early_readmission
    from {{ ref('int_admissions_sequenced') }}

),

aggregated as (

    select
        subject_id,
        count(case when is_early_readmission then 1 end) as early_readmissions,
        count(case when is_readmission_index_stay then 1 end) as readmission_index_stays,
        count(case when is_followed_by_early_readmission then 1 end) as index_stays_early_readmitted,
        -- median gap out of hospital between counted episodes; NULL with fewer than two
        percentile_cont(0.5) within group (order by days_since_previous_discharge)
            as median_days_between_admissions,
        count(case when is_emergency_admission then 1 end) as emergency_admissions,
        count(case when is_hospital_death then 1 end) as hospital_deaths
    from admissions
    group by subject_id

)

select
    subject_id,
    early_readmissions,
    readmission_index_stays,
    index_stays_early_readmitted,
    median_days_between_admissions,
    emergency_admissions,
    hospital_deaths
from aggregated
