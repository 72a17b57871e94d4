-- One row per patient: the end of the release's data, expressed in the patient's own
-- shifted timeline. See the `estimated_as_of_date` docs block for the method and its error.
with

patients as (

    select
        subject_id,
        anchor_year,
        anchor_year_group_start
    from {{ ref('stg_mimic__patients') }}

),

-- The release's end is a fact of the release, not of a patient's past: read from every
-- admission, not through the feature window, so it is the same in whole-history and index
-- mode (int_patients_indexed uses it to require follow-up after the index). Aggregated to
-- one row per patient here, so joining it cannot fan out.
admission_years as (

    select
        subject_id,
        max(admit_year) as last_admit_year
    from {{ ref('stg_mimic__admissions') }}
    group by subject_id

),

shift_bounds as (

    select
        patients.subject_id,
        -- The real anchor year lies in the 3-year anchor_year_group; its middle year gives
        -- the estimate, so the shift is known to +/- 1 year.
        patients.anchor_year - (patients.anchor_year_group_start + 1) as midpoint_year_shift,
        -- The release holds no admission after its last data year, so the shift is at least
        -- (last admission year - last data year): a smaller one would be impossible.
        admission_years.last_admit_year - {{ var('mimic_last_data_year') }} as minimum_year_shift
    from patients
    left join admission_years on patients.subject_id = admission_years.subject_id

),

shifted as (

    select
        subject_id,
        minimum_year_shift,
        case
            when minimum_year_shift > midpoint_year_shift then minimum_year_shift
            else midpoint_year_shift
        end as estimated_year_shift
    from shift_bounds

),

as_of as (

    select
        subject_id,
        minimum_year_shift,
        cast(
            {{ dbt.concat([
                "cast(" ~ var('mimic_last_data_year') ~ " + estimated_year_shift as " ~ dbt.type_string() ~ ")",
                "'-12-31'"
            ]) }}
            as date
        ) as estimated_as_of_date
    from shifted

)

select * from as_of
