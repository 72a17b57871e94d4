-- Within one patient's timeline a death cannot precede the patient's last discharge date;
-- died_within_1y_of_last_discharge assumes so. Returns the patients where it does.
select
    patients.subject_id,
    patients.date_of_death,
    admissions.last_discharged_at
from {{ ref('stg_mimic__patients') }} as patients
inner join {{ ref('int_admissions_aggregated_to_patients') }} as admissions
    on patients.subject_id = admissions.subject_id
where patients.date_of_death < cast(admissions.last_discharged_at as date)
