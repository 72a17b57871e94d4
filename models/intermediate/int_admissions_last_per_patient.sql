-- One row per patient with at least one admission: the insurance and race recorded at their
-- most recent admission. MIMIC-IV records them per admission, and they can change between
-- admissions; the latest is the patient's current description.
with

admissions as (

    select
        subject_id,
        hadm_id,
        admitted_at,
        insurance,
        race
    from {{ ref('int_admissions_in_feature_window') }}

),

ranked as (

    select
        subject_id,
        hadm_id,
        insurance,
        race,
        -- latest admission first; hadm_id breaks a tie on the admission time
        row_number() over (
            partition by subject_id
            order by admitted_at desc, hadm_id desc
        ) as recency_rank
    from admissions

)

select
    subject_id,
    hadm_id as last_hadm_id,
    insurance,
    race
from ranked
where recency_rank = 1
