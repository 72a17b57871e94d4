-- One row per index discharge the features see, scored with the LACE index (van Walraven et
-- al., CMAJ 2010;182(6):551-557): each component's input and points, the total and its risk
-- band, and whether it is the patient's last index discharge, the one outreach_list ranks by.
-- For BI: filter on the band, or draw the score's distribution per segment by joining
-- patient_segments on subject_id. Docs block lace_index.
with

index_discharges as (

    select
        subject_id,
        episode_number,
        closing_hadm_id,
        admitted_at,
        discharged_at,
        num_stays,
        length_of_stay_days,
        lace_length_of_stay_points,
        admission_encounter_class,
        is_acute_admission,
        lace_acuity_points,
        num_charlson_conditions,
        lace_charlson_score,
        lace_comorbidity_points,
        ed_visits_in_6_months_before,
        lace_ed_visit_points,
        is_ed_history_possibly_incomplete,
        lace_score,
        lace_risk_band
    from {{ ref('int_index_discharges_scored_with_lace') }}

),

last_per_patient as (

    select
        subject_id,
        episode_number
    from {{ ref('int_index_discharges_last_per_patient') }}

)

-- last_per_patient is unique on subject_id: each discharge is kept once
select
    index_discharges.subject_id,
    index_discharges.episode_number,
    index_discharges.closing_hadm_id,
    index_discharges.admitted_at,
    index_discharges.discharged_at,
    cast(index_discharges.discharged_at as date) as discharge_date,
    index_discharges.num_stays,
    index_discharges.length_of_stay_days,
    index_discharges.lace_length_of_stay_points,
    index_discharges.admission_encounter_class,
    index_discharges.is_acute_admission,
    index_discharges.lace_acuity_points,
    index_discharges.num_charlson_conditions,
    index_discharges.lace_charlson_score,
    index_discharges.lace_comorbidity_points,
    index_discharges.ed_visits_in_6_months_before as num_ed_visits_in_6_months_before,
    index_discharges.lace_ed_visit_points,
    index_discharges.is_ed_history_possibly_incomplete,
    index_discharges.lace_score,
    index_discharges.lace_risk_band,
    last_per_patient.episode_number is not null as is_last_index_discharge
from index_discharges
left join last_per_patient
    on
        index_discharges.subject_id = last_per_patient.subject_id
        and index_discharges.episode_number = last_per_patient.episode_number
