-- Segment summary for the care-management dashboard: one row per segment (clustered, then the
-- rule-defined "No hospital admission") with its persona and how well it fits, suggested
-- action, size and the few numbers a care-management lead reads first.
-- Run: DBT_PROFILES_DIR=. .venv/bin/dbt compile -s segment_summary, then run the compiled SQL
-- (target/compiled/mimic_segments/analyses/segment_summary.sql) from any SQL client.
with

profiles as (

    select
        segment_key,
        segment_kind,
        segment_name,
        care_management_action,
        num_patients,
        share_of_registry,
        share_of_clustered_population,
        persona_match_score,
        is_weak_persona_match,
        mean_num_admissions,
        mean_total_length_of_stay_days,
        mean_total_icu_days,
        mean_charlson_comorbidity_index,
        mean_num_chronic_conditions,
        early_readmission_rate,
        rate_in_hospital_death,
        rate_died_within_1y_of_last_discharge
    from {{ ref('segment_profiles_wide') }}

)

select
    segment_key,
    segment_kind,
    segment_name,
    care_management_action,
    num_patients,
    round(100.0 * share_of_registry, 1) as pct_of_registry,
    round(100.0 * share_of_clustered_population, 1) as pct_of_admitted,
    round(persona_match_score, 2) as persona_fit,
    is_weak_persona_match,
    round(mean_num_admissions, 1) as mean_admissions,
    round(mean_total_length_of_stay_days, 1) as mean_hospital_days,
    round(mean_total_icu_days, 1) as mean_icu_days,
    round(mean_charlson_comorbidity_index, 1) as mean_charlson_index,
    round(mean_num_chronic_conditions, 1) as mean_chronic_conditions,
    round(100.0 * early_readmission_rate, 1) as pct_early_readmitted,
    round(100.0 * rate_in_hospital_death, 1) as pct_died_in_hospital,
    round(100.0 * rate_died_within_1y_of_last_discharge, 1) as pct_died_within_1y
from profiles
order by segment_kind, segment_key
