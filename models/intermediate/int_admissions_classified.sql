-- One row per hospital admission of the release (every one, whatever the feature window): its
-- encounter class (seeds admission_type_classes and encounter_classes; docs block
-- encounter_classes) and whether it counts in the readmission timeline under var
-- readmission_definition (docs block readmission_definition). An admission_type missing from
-- the seed stops the build here, naming it (macro assert_admission_types_classified).
{{ assert_admission_types_classified(ref('stg_mimic__admissions'), ref('admission_type_classes')) }}
{%- set definition = readmission_definition() %}
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
        ed_registered_at,
        is_hospital_death,
        insurance,
        race
    from {{ ref('stg_mimic__admissions') }}

),

admission_types as (

    select
        admission_type,
        encounter_class
    from {{ ref('admission_type_classes') }}

),

encounter_classes as (

    select
        encounter_class,
        is_inpatient,
        is_emergency
    from {{ ref('encounter_classes') }}

),

-- the principal diagnosis (seq_num 1) decides whether a readmission was planned
principal_diagnoses as (

    select
        hadm_id,
        icd_version,
        icd_code
    from {{ ref('stg_mimic__diagnoses_icd') }}
    where seq_num = 1

),

planned_diagnoses as (

    select
        icd_version,
        icd_code
    from {{ ref('planned_readmission_diagnoses') }}

),

-- admission_types is unique on admission_type, encounter_classes on encounter_class,
-- principal_diagnoses on hadm_id (diagnoses are unique on hadm_id and seq_num) and
-- planned_diagnoses on its code: each join keeps one row per admission (tested).
classified as (

    select
        admissions.subject_id,
        admissions.hadm_id,
        admissions.admitted_at,
        admissions.discharged_at,
        admissions.admit_year,
        admissions.length_of_stay_days,
        admissions.admission_type,
        admission_types.encounter_class,
        encounter_classes.is_inpatient,
        encounter_classes.is_emergency as is_emergency_admission,
        planned_diagnoses.icd_code is not null as has_planned_principal_diagnosis,
        admissions.ed_registered_at,
        admissions.is_hospital_death,
        admissions.insurance,
        admissions.race
    from admissions
    left join admission_types on admissions.admission_type = admission_types.admission_type
    left join encounter_classes on admission_types.encounter_class = encounter_classes.encounter_class
    left join principal_diagnoses on admissions.hadm_id = principal_diagnoses.hadm_id
    left join planned_diagnoses
        on
            principal_diagnoses.icd_version = planned_diagnoses.icd_version
            and principal_diagnoses.icd_code = planned_diagnoses.icd_code

)

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
    is_emergency_admission,
    {%- if definition == 'inpatient' %}
    -- CMS: only inpatient stays are index stays or readmissions; a readmission whose principal
    -- diagnosis is always planned (CCS 45, 254) is not counted as one
    is_inpatient as is_counted_stay,
    has_planned_principal_diagnosis as is_planned_admission,
    {%- else %}
    -- every hospital stay counts, and none is set aside as planned
    true as is_counted_stay,
    false as is_planned_admission,
    {%- endif %}
    has_planned_principal_diagnosis,
    ed_registered_at,
    is_hospital_death,
    insurance,
    race
from classified
