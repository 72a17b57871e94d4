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
        -- the length of stay from the timestamps it is derived from, to their second; MIMIC's
        -- own los only where a timestamp is missing (docs block icu_length_of_stay_days)
        coalesce(
            cast(
                {{ dbt.datediff('cast(intime as timestamp)', 'cast(outtime as timestamp)', 'second') }}
                as {{ type_double() }}
            ) / 86400,
            cast(los as {{ type_double() }})
        ) as icu_length_of_stay_days,
        -- MIMIC's los as the file stores it: checked against the timestamps, never used
        cast(los as {{ type_double() }}) as recorded_icu_length_of_stay_days

    from source

)

select * from renamed
