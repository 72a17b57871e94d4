-- One row per patient, distinct diagnosis code and CCSR category the code reaches: the fan-out
-- of int_diagnoses_distinct_per_patient through int_icd_codes_mapped_to_ccsr (an ICD-9-CM code
-- with GEM targets in two categories gives the patient two rows). The mapping is unique on
-- code and category and lists every code (both tested), so each patient-code keeps exactly one
-- row per category it reaches and none is lost: the rows with category_sequence = 1 are the
-- patient-codes one for one (tested). Segments count patients per category from here.
with

patient_codes as (

    select
        subject_id,
        icd_version,
        icd_code,
        num_diagnosis_rows
    from {{ ref('int_diagnoses_distinct_per_patient') }}

),

code_categories as (

    select
        icd_version,
        icd_code,
        ccsr_category_code,
        body_system_code,
        mapping_method,
        is_approximate_mapping,
        category_sequence
    from {{ ref('int_icd_codes_mapped_to_ccsr') }}

),

mapped as (

    select
        patient_codes.subject_id,
        patient_codes.icd_version,
        patient_codes.icd_code,
        code_categories.ccsr_category_code,
        code_categories.body_system_code,
        code_categories.mapping_method,
        code_categories.is_approximate_mapping,
        code_categories.category_sequence,
        patient_codes.num_diagnosis_rows
    from patient_codes
    inner join code_categories
        on
            patient_codes.icd_version = code_categories.icd_version
            and patient_codes.icd_code = code_categories.icd_code

)

select
    subject_id,
    icd_version,
    icd_code,
    ccsr_category_code,
    body_system_code,
    mapping_method,
    is_approximate_mapping,
    category_sequence,
    num_diagnosis_rows
from mapped
