with

source as (

    select * from {{ mimic_table('icustays') }}
    {{ without_quarantined_admissions() }}

),

renamed as (

    select
        cast(subject_id as bigint) as subject_id,
        cast(hadm_id as bigint) as hadm_id,
        cast(stay_id as bigint) as stay_id,
        coalesce(nullif(trim(first_careunit), ''), 'Unknown') as first_careunit,
        coalesce(nullif(trim(last_careunit), ''), 'Unknown') as last_careunit,
        cast(intime as timestamp) as icu_admitted_at,
        cast(outtime as timestamp) as icu_discharged_at,
        -- MIMIC's own los (fractional days between intime and outtime); recomputed from the
        -- timestamps only where the release left it empty.
        coalesce(
            cast(los as {{ type_double() }}),
            cast(
                {{ dbt.datediff('cast(intime as timestamp)', 'cast(outtime as timestamp)', 'second') }}
                as {{ type_double() }}
            ) / 86400
        ) as icu_length_of_stay_days

    from source

)

select * from renamed
