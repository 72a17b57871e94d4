-- One row per patient with at least one ICU stay.
with

icustays as (

    select
        subject_id,
        icu_length_of_stay_days
    from {{ ref('int_icustays_in_feature_window') }}

),

aggregated as (

    select
        subject_id,
        count(*) as icu_stay_count,
        sum(icu_length_of_stay_days) as total_icu_days
    from icustays
    group by subject_id

)

select * from aggregated
