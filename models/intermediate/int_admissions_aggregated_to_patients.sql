-- One row per patient with at least one admission. Aggregating here, before any join, is
-- what keeps admissions from being multiplied by diagnoses or ICU stays downstream.
with

admissions as (

    select
        subject_id,
        admitted_at,
        discharged_at,
        admit_year,
        length_of_stay_days
    from {{ ref('int_admissions_in_feature_window') }}

),

aggregated as (

    select
        subject_id,
        count(*) as num_admissions,
        sum(length_of_stay_days) as total_length_of_stay_days,
        avg(length_of_stay_days) as avg_length_of_stay_days,
        max(admitted_at) as last_admitted_at,
        max(discharged_at) as last_discharged_at,
        -- the calendar year (shifted) of the most recent admission, for age at that admission
        max(admit_year) as last_admit_year
    from admissions
    group by subject_id

)

select * from aggregated
