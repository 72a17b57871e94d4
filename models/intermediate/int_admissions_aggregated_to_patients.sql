-- One row per patient with at least one admission. Aggregating here, before any join, is
-- what keeps admissions from being multiplied by diagnoses or ICU stays downstream.
with

admissions as (

    select
        subject_id,
        admitted_at,
        discharged_at,
        admit_year,
        -- whole seconds (the stay's length_of_stay_days is these / 86400): summed as integers,
        -- divided once, so that the totals do not depend on the order rows are added in
        -- (an integer type on every engine: PostgreSQL's second difference is numeric)
        cast(
            {{ dbt.datediff('admitted_at', 'discharged_at', 'second') }}
            as {{ dbt.type_bigint() }}
        ) as length_of_stay_seconds
    from {{ ref('int_admissions_in_feature_window') }}

),

aggregated as (

    select
        subject_id,
        count(*) as num_admissions,
        {{ days_from_seconds('sum(length_of_stay_seconds)') }} as total_length_of_stay_days,
        {{ days_from_seconds('sum(length_of_stay_seconds)') }} / count(*) as avg_length_of_stay_days,
        max(admitted_at) as last_admitted_at,
        max(discharged_at) as last_discharged_at,
        -- the calendar year (shifted) of the most recent admission, for age at that admission
        max(admit_year) as last_admit_year
    from admissions
    group by subject_id

)

select * from aggregated
