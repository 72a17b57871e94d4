with

source as (

    select * from {{ mimic_table('transfers') }}
    {{ without_quarantined_admissions() }}

),

renamed as (

    select
        -- ids; hadm_id is empty for an ED visit that led to no hospital admission
        cast(subject_id as bigint) as subject_id,
        cast(hadm_id as bigint) as hadm_id,
        cast(transfer_id as bigint) as transfer_id,

        -- MIMIC writes 'ED' in capitals and the admission's own events in lower case
        lower(trim(eventtype)) as event_type,
        nullif(trim(careunit), '') as care_unit,

        -- timestamps (shifted per patient: compare them only within one patient); a discharge
        -- event has no end
        cast(intime as timestamp) as entered_at,
        cast(outtime as timestamp) as left_at

    from source

)

select * from renamed
