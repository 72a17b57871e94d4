-- One row per admission the features may see: the one seam through which every feature model
-- reads admissions (docs block feature_index). In whole-history mode (var feature_index unset)
-- every admission; with an index, the admissions discharged on or before the patient's index,
-- so nothing after it can reach a feature, the clustering or a segment.
with

admissions as (

    select
        subject_id,
        hadm_id,
        admitted_at,
        discharged_at,
        admit_year,
        length_of_stay_days,
        admission_type,
        encounter_class,
        is_inpatient,
        ed_registered_at,
        is_hospital_death,
        insurance,
        race
    from {{ ref('int_admissions_classified') }}

),

{%- if feature_index() is none %}

windowed as (

    select
        subject_id,
        hadm_id,
        admitted_at,
        discharged_at,
        admit_year,
        length_of_stay_days,
        admission_type,
        encounter_class,
        is_inpatient,
        ed_registered_at,
        is_hospital_death,
        insurance,
        race
    from admissions

)

{%- else %}

indexed as (

    select
        subject_id,
        index_at
    from {{ ref('int_patients_indexed') }}
    where index_at is not null

),

-- indexed is unique on subject_id: each admission is kept once or left out
windowed as (

    select
        admissions.subject_id,
        admissions.hadm_id,
        admissions.admitted_at,
        admissions.discharged_at,
        admissions.admit_year,
        admissions.length_of_stay_days,
        admissions.admission_type,
        admissions.encounter_class,
        admissions.is_inpatient,
        admissions.ed_registered_at,
        admissions.is_hospital_death,
        admissions.insurance,
        admissions.race
    from admissions
    inner join indexed on admissions.subject_id = indexed.subject_id
    where admissions.discharged_at <= indexed.index_at

)

{%- endif %}

select
    subject_id,
    hadm_id,
    admitted_at,
    discharged_at,
    admit_year,
    length_of_stay_days,
    admission_type,
    encounter_class,
    is_inpatient,
    ed_registered_at,
    is_hospital_death,
    insurance,
    race
from windowed
