with

source as (

    select * from {{ mimic_table('diagnoses_icd') }}
    {{ without_quarantined_admissions() }}

),

renamed as (

    select
        cast(subject_id as bigint) as subject_id,
        cast(hadm_id as bigint) as hadm_id,
        cast(seq_num as integer) as seq_num,
        -- ICD codes are strings: ICD-9 '0389' and '389' are different codes.
        upper(trim(cast(icd_code as {{ dbt.type_string() }}))) as icd_code,
        cast(icd_version as integer) as icd_version

    from source

)

select * from renamed
