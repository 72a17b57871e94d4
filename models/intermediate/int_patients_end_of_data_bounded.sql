-- One row per patient: the end of the release's data in the patient's own shifted timeline,
-- as the range the anchor year group allows (earliest, midpoint, latest), not one estimate.
-- Return curves censor at the earliest (docs block `end_of_data_assumption`): the one date
-- by which the release is sure to hold the patient's admissions.
with

patients as (

    select
        subject_id,
        anchor_year,
        anchor_year_group_start
    from {{ ref('stg_mimic__patients') }}

),

-- The project's estimate (midpoint) and the smallest shift the admissions allow, both from
-- every admission of the release (never through the feature window, so the bounds are the
-- same in whole-history and index mode); already one row per patient.
as_of as (

    select
        subject_id,
        minimum_year_shift,
        estimated_as_of_date
    from {{ ref('int_patients_as_of_estimated') }}

),

shift_bounds as (

    select
        patients.subject_id,
        -- the real anchor year is one of the group's three years: the last gives the smallest
        -- shift, the first the largest
        patients.anchor_year - (patients.anchor_year_group_start + 2) as group_earliest_year_shift,
        patients.anchor_year - patients.anchor_year_group_start as group_latest_year_shift,
        -- no admission is later than the last data year: a smaller shift would contradict the data
        as_of.minimum_year_shift
    from patients
    inner join as_of on patients.subject_id = as_of.subject_id

),

shifts as (

    select
        subject_id,
        case
            when minimum_year_shift > group_earliest_year_shift then minimum_year_shift
            else group_earliest_year_shift
        end as earliest_year_shift,
        case
            when minimum_year_shift > group_latest_year_shift then minimum_year_shift
            else group_latest_year_shift
        end as latest_year_shift
    from shift_bounds

),

-- both one row per patient: one-to-one
bounded as (

    select
        shifts.subject_id,
        shifts.earliest_year_shift,
        shifts.latest_year_shift,
        cast(
            {{ dbt.concat([
                "cast(" ~ var('mimic_last_data_year') ~ " + shifts.earliest_year_shift as " ~ dbt.type_string() ~ ")",
                "'-12-31'"
            ]) }}
            as date
        ) as earliest_end_of_data_date,
        as_of.estimated_as_of_date as midpoint_end_of_data_date,
        cast(
            {{ dbt.concat([
                "cast(" ~ var('mimic_last_data_year') ~ " + shifts.latest_year_shift as " ~ dbt.type_string() ~ ")",
                "'-12-31'"
            ]) }}
            as date
        ) as latest_end_of_data_date
    from shifts
    inner join as_of on shifts.subject_id = as_of.subject_id

)

select * from bounded
