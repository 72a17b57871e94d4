-- One row per patient of hosp.patients: the index date the features are computed as of, and
-- whether the patient can be followed up after it (docs blocks feature_index and
-- prospective_validation). The one model that places the index; every feature model reads
-- its admissions, diagnoses and ICU stays through the int_*_in_feature_window seams, which
-- keep what was discharged on or before it. In whole-history mode (var feature_index unset)
-- there is no index: the features' as-of date stays the estimated end of the release.
{%- set window_days = prospective_window_days() %}
with

patients as (

    select
        subject_id,
        date_of_death
    from {{ ref('stg_mimic__patients') }}

),

-- read from the whole history on purpose: the first admission is known at the index (it
-- defines it), and so is a death in hospital discharged on or before the index
admissions as (

    select
        subject_id,
        admitted_at,
        discharged_at,
        is_hospital_death
    from {{ ref('stg_mimic__admissions') }}

),

first_admissions as (

    select
        subject_id,
        min(admitted_at) as first_admitted_at
    from admissions
    group by subject_id

),

-- the end of the release in the patient's timeline, +/- 1 year (docs block estimated_as_of_date)
data_end as (

    select
        subject_id,
        estimated_as_of_date
    from {{ ref('int_patients_as_of_estimated') }}

),

-- both unique on subject_id (first_admissions by its group by): no fan-out
indexed as (

    select
        patients.subject_id,
        patients.date_of_death,
        data_end.estimated_as_of_date,
        first_admissions.first_admitted_at,
        {%- if feature_index() == 'first_year' %}
        -- the end of the patient's first year in hospital records
        {{ dbt.dateadd('day', window_days, 'first_admissions.first_admitted_at') }} as index_at
        {%- else %}
        cast(null as timestamp) as index_at
        {%- endif %}
    from patients
    left join first_admissions on patients.subject_id = first_admissions.subject_id
    left join data_end on patients.subject_id = data_end.subject_id

),

-- patients whose hospital stay ended in death on or before their index
died_in_hospital_by_index as (

    select distinct admissions.subject_id
    from admissions
    inner join indexed on admissions.subject_id = indexed.subject_id
    where
        admissions.is_hospital_death
        and admissions.discharged_at <= indexed.index_at

),

flagged as (

    select
        indexed.subject_id,
        indexed.index_at,
        indexed.estimated_as_of_date,
        -- the date 'days since' features count to: the index, or without one the release's end
        coalesce(cast(indexed.index_at as date), indexed.estimated_as_of_date) as features_as_of_date,
        -- a death after the index is the future: unknown at the index
        case
            when indexed.index_at is null then indexed.date_of_death
            when indexed.date_of_death <= cast(indexed.index_at as date) then indexed.date_of_death
        end as date_of_death_as_of,
        indexed.index_at is not null
        and died_in_hospital_by_index.subject_id is null
        and coalesce(indexed.date_of_death > cast(indexed.index_at as date), true)
            as is_alive_at_index,
        -- the lower bound of the release's end (the estimate is +/- 1 year) is at least a
        -- whole outcome window after the index
        {{ dbt.dateadd('day', -365, 'indexed.estimated_as_of_date') }}
        >= {{ dbt.dateadd('day', window_days, 'cast(indexed.index_at as date)') }}
            as has_window_before_data_end
    from indexed
    left join died_in_hospital_by_index on indexed.subject_id = died_in_hospital_by_index.subject_id

)

select
    subject_id,
    index_at,
    features_as_of_date,
    date_of_death_as_of,
    estimated_as_of_date,
    is_alive_at_index,
    -- eligible for prospective validation: alive at the index, and followed for a whole window
    is_alive_at_index and coalesce(has_window_before_data_end, false) as has_follow_up
from flagged
