-- One row per ICU stay the features may see (docs block feature_index): kept exactly when its
-- hospital admission is in int_admissions_in_feature_window (a stay lies within its admission,
-- so it ended by the admission's discharge). In whole-history mode, every ICU stay.
with

icustays as (

    select
        subject_id,
        hadm_id,
        stay_id,
        icu_admitted_at,
        icu_discharged_at,
        icu_length_of_stay_days
    from {{ ref('stg_mimic__icustays') }}

),

{%- if feature_index() is none %}

windowed as (

    select * from icustays

)

{%- else %}

admissions as (

    select hadm_id
    from {{ ref('int_admissions_in_feature_window') }}

),

-- admissions is unique on hadm_id: a semi-join that keeps each stay once or leaves it out
windowed as (

    select icustays.*
    from icustays
    inner join admissions on icustays.hadm_id = admissions.hadm_id

)

{%- endif %}

select * from windowed
