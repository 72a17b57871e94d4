-- One row per index discharge the features see: a counted hospital episode the patient left
-- alive, whose closing stay is in the feature window (int_admissions_sequenced's
-- is_readmission_index_stay; in whole-history mode every such episode). Each is scored with
-- the LACE index (van Walraven et al., CMAJ 2010;182(6):551-557; docs block lace_index), one
-- column per component: L from the episode's length of stay, A from its first counted stay's
-- encounter class, C from the Charlson conditions coded in its stays under LACE's weights, E
-- from the ED visits in the 6 months before it began. Every rule is a macro (macros/lace.sql)
-- or a seed. In index mode the episode was discharged by the index, and everything read here
-- happened by then.
{%- set point_columns = [
    'subject_id', 'episode_number', 'closing_hadm_id', 'admitted_at', 'discharged_at', 'num_stays',
    'length_of_stay_days', 'lace_length_of_stay_points', 'admission_encounter_class', 'is_acute_admission',
    'lace_acuity_points', 'num_charlson_conditions', 'lace_charlson_score', 'lace_comorbidity_points',
    'ed_visits_in_6_months_before', 'lace_ed_visit_points', 'is_ed_history_possibly_incomplete'
] %}
with

index_stays as (

    select
        subject_id,
        episode_number,
        hadm_id
    from {{ ref('int_admissions_sequenced') }}
    where is_readmission_index_stay

),

episodes as (

    select
        subject_id,
        episode_number,
        episode_admitted_at,
        episode_discharged_at,
        num_stays
    from {{ ref('int_episodes_flagged_for_readmission') }}

),

-- the episode's first counted stay: the admission LACE's A asks about
opening_stays as (

    select
        subject_id,
        episode_number,
        encounter_class
    from {{ ref('int_admissions_grouped_to_episodes') }}
    where is_opening_counted_stay

),

encounter_classes as (

    select
        encounter_class,
        is_acute_admission
    from {{ ref('encounter_classes') }}

),

ed_visits as (

    select
        subject_id,
        episode_number,
        ed_visits_in_6_months_before
    from {{ ref('int_ed_visits_aggregated_to_episodes') }}

),

comorbidities as (

    select
        subject_id,
        episode_number,
        num_charlson_conditions,
        lace_charlson_score
    from {{ ref('int_charlson_conditions_aggregated_to_episodes') }}

),

patients as (

    select
        subject_id,
        anchor_year,
        anchor_year_group_start
    from {{ ref('stg_mimic__patients') }}

),

-- index_stays holds one closing stay per episode; episodes, opening_stays, ed_visits and
-- comorbidities are unique on (subject_id, episode_number), encounter_classes and patients on
-- their keys (all tested): one row per index discharge. A counted episode always has an opening counted
-- stay; an episode with no Charlson condition coded has no comorbidities row.
components as (

    select
        index_stays.subject_id,
        index_stays.episode_number,
        index_stays.hadm_id as closing_hadm_id,
        episodes.episode_admitted_at as admitted_at,
        episodes.episode_discharged_at as discharged_at,
        episodes.num_stays,
        {{ lace_length_of_stay_days('episodes.episode_admitted_at', 'episodes.episode_discharged_at') }}
            as length_of_stay_days,
        opening_stays.encounter_class as admission_encounter_class,
        encounter_classes.is_acute_admission,
        coalesce(comorbidities.num_charlson_conditions, 0) as num_charlson_conditions,
        coalesce(comorbidities.lace_charlson_score, 0) as lace_charlson_score,
        ed_visits.ed_visits_in_6_months_before,
        {{ ed_history_possibly_incomplete(
            'episodes.episode_admitted_at', 'patients.anchor_year', 'patients.anchor_year_group_start'
        ) }} as is_ed_history_possibly_incomplete
    from index_stays
    inner join episodes
        on
            index_stays.subject_id = episodes.subject_id
            and index_stays.episode_number = episodes.episode_number
    inner join opening_stays
        on
            index_stays.subject_id = opening_stays.subject_id
            and index_stays.episode_number = opening_stays.episode_number
    inner join encounter_classes on opening_stays.encounter_class = encounter_classes.encounter_class
    inner join ed_visits
        on
            index_stays.subject_id = ed_visits.subject_id
            and index_stays.episode_number = ed_visits.episode_number
    inner join patients on index_stays.subject_id = patients.subject_id
    left join comorbidities
        on
            index_stays.subject_id = comorbidities.subject_id
            and index_stays.episode_number = comorbidities.episode_number

),

points as (

    select
        subject_id,
        episode_number,
        closing_hadm_id,
        admitted_at,
        discharged_at,
        num_stays,
        cast(length_of_stay_days as {{ dbt.type_bigint() }}) as length_of_stay_days,
        cast({{ lace_length_of_stay_points('length_of_stay_days') }} as {{ dbt.type_bigint() }})
            as lace_length_of_stay_points,
        admission_encounter_class,
        is_acute_admission,
        cast({{ lace_acuity_points('is_acute_admission') }} as {{ dbt.type_bigint() }}) as lace_acuity_points,
        num_charlson_conditions,
        lace_charlson_score,
        cast({{ lace_comorbidity_points('lace_charlson_score') }} as {{ dbt.type_bigint() }})
            as lace_comorbidity_points,
        ed_visits_in_6_months_before,
        cast({{ lace_ed_visit_points('ed_visits_in_6_months_before') }} as {{ dbt.type_bigint() }})
            as lace_ed_visit_points,
        is_ed_history_possibly_incomplete
    from components

),

scored as (

    select
        {%- for column in point_columns %}
        {{ column }},
        {%- endfor %}
        lace_length_of_stay_points + lace_acuity_points + lace_comorbidity_points + lace_ed_visit_points
            as lace_score
    from points

)

select
    {%- for column in point_columns %}
    {{ column }},
    {%- endfor %}
    lace_score,
    {{ lace_risk_band('lace_score') }} as lace_risk_band
from scored
