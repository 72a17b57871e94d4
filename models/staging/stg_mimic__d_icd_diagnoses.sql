with

source as (

    select * from {{ mimic_table('d_icd_diagnoses') }}

),

renamed as (

    select
        upper(trim(cast(icd_code as {{ dbt.type_string() }}))) as icd_code,
        cast(icd_version as integer) as icd_version,
        trim(long_title) as long_title

    from source

)

select * from renamed
