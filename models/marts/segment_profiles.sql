{#- The features profiled: every numeric feature of patient_features, clustering input or not. -#}
{%- set profile_features = [
    'num_admissions',
    'avg_length_of_stay_days',
    'total_length_of_stay_days',
    'days_since_last_admission',
    'emergency_admission_share',
    'ed_visit_count',
    'readmissions_30d',
    'median_days_between_admissions',
    'num_unique_icd_diagnoses',
    'charlson_comorbidity_index',
    'charlson_condition_score',
    'num_chronic_conditions',
    'chronic_determination_coverage',
    'icu_stay_count',
    'total_icu_days',
    'age_at_last_admission',
] -%}
{#- The yes/no features profiled as the share of the segment's patients (NULLs left out). -#}
{%- set profile_flags = {
    'has_chronic_condition': 'share_with_chronic_condition',
    'in_hospital_death': 'in_hospital_death_rate',
    'died_within_1y_of_last_discharge': 'one_year_mortality_rate',
} -%}

-- One row per segment, for BI: its persona and suggested action, how big it is, and what its
-- patients look like: mean, median and z-score of every feature, outcome rates and its top
-- diagnoses. The z-score puts each segment mean on the population's scale:
-- (segment mean - population mean) / population standard deviation.
--
-- Means and variances are computed on fixed-point numbers: a sum of floats depends on the
-- order rows reach it (threads), and the same input must give the same output, digit for digit.
with

segments as (

    select
        subject_id,
        cluster_id
    from {{ ref('patient_clusters') }}

),

personas as (

    select
        cluster_id,
        persona_name,
        catalogue_persona_name
    from {{ ref('segment_personas') }}

),

catalogue as (

    select
        persona_name,
        care_management_action
    from {{ ref('persona_catalogue') }}

),

features as (

    select
        subject_id,
        {%- for feature in profile_features %}
        {{ feature }},
        {%- endfor %}
        {%- for flag in profile_flags %}
        {{ flag }},
        {%- endfor %}
        readmission_index_stays
    from {{ ref('patient_features') }}

),

top_diagnoses as (

    select
        cluster_id,
        {{ dbt.listagg('long_title', "'; '", 'order by diagnosis_rank') }} as top_diagnoses
    from {{ ref('segment_top_diagnoses') }}
    where diagnosis_rank <= 3
    group by cluster_id

),

-- Both inputs are at patient grain (tested unique), so this join is one-to-one.
segment_features as (

    select
        {%- for feature in profile_features %}
        cast(features.{{ feature }} as {{ dbt.type_numeric() }}) as {{ feature }},
        {%- endfor %}
        {%- for flag in profile_flags %}
        features.{{ flag }},
        {%- endfor %}
        features.readmission_index_stays,
        segments.cluster_id
    from segments
    inner join features on segments.subject_id = features.subject_id

),

population_means as (

    select
        {%- for feature in profile_features %}
        avg({{ feature }}) as population_mean_{{ feature }},
        {%- endfor %}
        count(*) as num_population_patients
    from segment_features

),

-- population variance as the mean squared deviation, the deviations rounded to fixed point
population_spread as (

    select
        {%- for feature in profile_features %}
        -- NULL rather than a division by zero for a feature with no spread
        nullif(sqrt(avg(cast(
            (segment_features.{{ feature }} - population_means.population_mean_{{ feature }})
            * (segment_features.{{ feature }} - population_means.population_mean_{{ feature }})
            as {{ dbt.type_numeric() }}
        ))), 0) as population_sd_{{ feature }},
        {%- endfor %}
        population_means.num_population_patients
    from segment_features
    cross join population_means
    group by population_means.num_population_patients

),

profiles as (

    select
        {%- for feature in profile_features %}
        avg({{ feature }}) as mean_{{ feature }},
        percentile_cont(0.5) within group (order by {{ feature }}) as median_{{ feature }},
        {%- endfor %}
        {%- for flag, rate in profile_flags.items() %}
        avg(case when {{ flag }} then 1.0 when not {{ flag }} then 0.0 end) as {{ rate }},
        {%- endfor %}
        -- pooled over the segment's index stays, not a mean of patients' rates
        sum(readmissions_30d) * 1.0 / nullif(sum(readmission_index_stays), 0) as readmission_rate,
        cluster_id,
        count(*) as num_patients,
        -- window over the grouped rows: this segment's share of all segmented patients
        count(*) * 1.0 / sum(count(*)) over () as share_of_patients
    from segment_features
    group by cluster_id

)

select
    profiles.cluster_id,
    personas.persona_name,
    personas.catalogue_persona_name,
    catalogue.care_management_action,
    profiles.num_patients,
    profiles.share_of_patients,
    {%- for feature in profile_features %}
    profiles.mean_{{ feature }},
    -- percentile_cont over the fixed-point values returns numeric; BI gets a double
    cast(profiles.median_{{ feature }} as {{ type_double() }}) as median_{{ feature }},
    (
        profiles.mean_{{ feature }} - population_means.population_mean_{{ feature }}
    ) / population_spread.population_sd_{{ feature }} as zscore_{{ feature }},
    {%- endfor %}
    profiles.readmission_rate,
    {%- for rate in profile_flags.values() %}
    profiles.{{ rate }},
    {%- endfor %}
    top_diagnoses.top_diagnoses
from profiles
inner join personas on profiles.cluster_id = personas.cluster_id
left join catalogue on personas.catalogue_persona_name = catalogue.persona_name
left join top_diagnoses on profiles.cluster_id = top_diagnoses.cluster_id
cross join population_means
cross join population_spread
