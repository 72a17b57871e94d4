with

source as (

    select * from {{ mimic_table('admissions') }}
    {{ without_quarantined_admissions() }}

),

renamed as (

    select
        -- ids
        cast(subject_id as bigint) as subject_id,
        cast(hadm_id as bigint) as hadm_id,

        -- timestamps (shifted per patient: compare them only within one patient)
        cast(admittime as timestamp) as admitted_at,
        cast(dischtime as timestamp) as discharged_at,
        cast(deathtime as timestamp) as died_at,
        cast(edregtime as timestamp) as ed_registered_at,
        cast(edouttime as timestamp) as ed_left_at,

        -- categories; MIMIC writes an unknown language as '?'
        upper(trim(admission_type)) as admission_type,
        coalesce(nullif(trim(admission_location), ''), 'Unknown') as admission_location,
        coalesce(nullif(trim(discharge_location), ''), 'Unknown') as discharge_location,
        coalesce(nullif(trim(insurance), ''), 'Unknown') as insurance,
        coalesce(nullif(nullif(trim(language), ''), '?'), 'Unknown') as spoken_language,
        coalesce(nullif(trim(marital_status), ''), 'Unknown') as marital_status,
        coalesce(nullif(trim(race), ''), 'Unknown') as race,
        cast(hospital_expire_flag as integer) = 1 as is_hospital_death,

        -- derived, row-level
        cast(extract(year from cast(admittime as timestamp)) as bigint) as admit_year,
        -- seconds as a float before dividing: an integer quotient would truncate on PostgreSQL
        cast(
            {{ dbt.datediff('cast(admittime as timestamp)', 'cast(dischtime as timestamp)', 'second') }}
            as {{ type_double() }}
        ) / 86400 as length_of_stay_days

    from source

)

select * from renamed
