-- A patient's conditions are those of all their admissions, and adding a condition never
-- lowers a hierarchy group's maximum weight: so the patient's condition score is at least
-- that of each admission. Returns the admissions scoring higher than their patient.
select
    admissions.subject_id,
    admissions.hadm_id,
    admissions.charlson_condition_score as admission_score,
    patients.charlson_condition_score as patient_score
from {{ ref('admission_comorbidities') }} as admissions
inner join {{ ref('patient_features') }} as patients
    on admissions.subject_id = patients.subject_id
where admissions.charlson_condition_score > patients.charlson_condition_score
