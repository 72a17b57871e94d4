-- One row per patient with at least one admission. Aggregating here, before any join, is
-- what keeps admissions from being multiplied by diagnoses or ICU stays downstream.
with

admissions as (

    select
        subject_id,
        admitted_at,
        discharged_at,
        admit_year,
        is_inpatient,
        -- whole seconds (the stay's length_of_stay_days is these / 86400): summed as integers,
        -- divided once, so that the totals do not depend on the order rows are added in
        -- (an integer type on every engine: PostgreSQL's second difference is numeric)
        cast(
            {{ dbt.datediff('admitted_at', 'discharged_at', 'second') }}
            as {{ dbt.type_bigint() }}
        ) as length_of_stay_seconds
    from {{ ref('int_admissions_in_feature_window') }}

),

aggregated as (

    select
        subject_id,
        count(*) as num_admissions,
        -- every stay is an inpatient stay or an observation stay (docs block encounter_classes)
        count(case when is_inpatient then 1 end) as num_inpatient_stays,
        count(case when not is_inpatient then 1 end) as num_observation_stays,
        {{ days_from_seconds('sum(length_of_stay_seconds)') }} as total_length_of_stay_days,
        {{ days_from_seconds('sum(length_of_stay_seconds)') }} / count(*) as avg_length_of_stay_days,
        max(admitted_at) as last_admitted_at,
        max(discharged_at) as last_discharged_at,
        -- the calendar year (shifted) of the most recent admission, for age at that admission
        max(admit_year) as last_admit_year
    from admissions
    group by subject_id

)

select
    subject_id,
    num_admissions,
    num_inpatient_stays,
    num_observation_stays,
    total_length_of_stay_days,
    avg_length_of_stay_days,
    last_admitted_at,
    last_discharged_at,
    last_admit_year
from aggregated
