with

source as (

    select * from {{ mimic_table('patients') }}

),

renamed as (

    select
        cast(subject_id as bigint) as subject_id,

        -- MIMIC-IV records administrative sex as 'F'/'M'; anything else or nothing is
        -- kept as an explicit 'Unknown' rather than a NULL that BI tools would hide.
        case upper(trim(gender))
            when 'F' then 'F'
            when 'M' then 'M'
            else 'Unknown'
        end as gender,

        -- anchor_age 91 stands for "older than 89" (HIPAA): it is a floor, not an age.
        cast(anchor_age as integer) as anchor_age,
        cast(anchor_age as integer) >= 91 as is_age_censored,
        cast(anchor_year as integer) as anchor_year,
        coalesce(nullif(trim(anchor_year_group), ''), 'Unknown') as anchor_year_group,
        -- '2011 - 2013' -> 2011: the first real calendar year of the patient's anchor window.
        cast(
            nullif(trim({{ dbt.split_part('anchor_year_group', "'-'", 1) }}), '')
            as integer
        ) as anchor_year_group_start,
        cast(dod as date) as date_of_death

    from source

)

select * from renamed
