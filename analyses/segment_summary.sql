-- Segment summary for the care-management dashboard: one row per segment with its persona,
-- suggested action, size and the few numbers a care-management lead reads first.
-- Run: DBT_PROFILES_DIR=. .venv/bin/dbt compile -s segment_summary, then run the compiled SQL
-- (target/compiled/mimic_segments/analyses/segment_summary.sql) from any SQL client.
with

profiles as (

    select
        cluster_id,
        persona_name,
        care_management_action,
        num_patients,
        share_of_patients,
        mean_num_admissions,
        mean_total_length_of_stay_days,
        mean_total_icu_days,
        mean_charlson_comorbidity_index,
        mean_num_chronic_conditions,
        readmission_rate,
        in_hospital_death_rate,
        one_year_mortality_rate
    from {{ ref('segment_profiles') }}

)

select
    cluster_id,
    persona_name,
    care_management_action,
    num_patients,
    round(100.0 * share_of_patients, 1) as pct_of_patients,
    round(mean_num_admissions, 1) as mean_admissions,
    round(mean_total_length_of_stay_days, 1) as mean_hospital_days,
    round(mean_total_icu_days, 1) as mean_icu_days,
    round(mean_charlson_comorbidity_index, 1) as mean_charlson_index,
    round(mean_num_chronic_conditions, 1) as mean_chronic_conditions,
    round(100.0 * readmission_rate, 1) as pct_readmitted_30d,
    round(100.0 * in_hospital_death_rate, 1) as pct_died_in_hospital,
    round(100.0 * one_year_mortality_rate, 1) as pct_died_within_1y
from profiles
order by cluster_id
