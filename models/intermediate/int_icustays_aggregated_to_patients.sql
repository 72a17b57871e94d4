-- One row per patient with at least one ICU stay.
with

icustays as (

    select
        subject_id,
        -- MIMIC's los to the second (the resolution of the timestamps it comes from): summed
        -- as integers, divided once, so that the total does not depend on the order rows are
        -- added in
        cast(round(icu_length_of_stay_days * 86400) as {{ dbt.type_bigint() }}) as icu_length_of_stay_seconds
    from {{ ref('int_icustays_in_feature_window') }}

),

aggregated as (

    select
        subject_id,
        count(*) as icu_stay_count,
        {{ days_from_seconds('sum(icu_length_of_stay_seconds)') }} as total_icu_days
    from icustays
    group by subject_id

)

select * from aggregated
