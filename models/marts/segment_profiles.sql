{#- The features profiled: every numeric feature of patient_features, clustering input or not. -#}
{%- set profile_features = [
    'num_admissions',
    'avg_length_of_stay_days',
    'total_length_of_stay_days',
    'days_since_last_admission',
    'num_unique_icd_diagnoses',
    'icu_stay_count',
    'total_icu_days',
    'age_at_last_admission',
] -%}

-- One row per segment, for BI: its persona and suggested action, how big it is, and what its
-- patients look like: mean, median and z-score of every feature, and its top diagnoses.
-- The z-score puts each segment mean on the population's scale:
-- (segment mean - population mean) / population standard deviation.
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
        {{ profile_features | join(',\n        ') }}
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
        features.{{ feature }},
        {%- endfor %}
        segments.cluster_id
    from segments
    inner join features on segments.subject_id = features.subject_id

),

population as (

    -- a feature with no spread gets a NULL standard deviation, not a division by zero
    select
        {%- for feature in profile_features %}
        avg({{ feature }}) as population_mean_{{ feature }},
        nullif(stddev_pop({{ feature }}), 0) as population_sd_{{ feature }},
        {%- endfor %}
        count(*) as num_population_patients
    from segment_features

),

profiles as (

    select
        {%- for feature in profile_features %}
        avg({{ feature }}) as mean_{{ feature }},
        percentile_cont(0.5) within group (order by {{ feature }}) as median_{{ feature }},
        {%- endfor %}
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
    profiles.median_{{ feature }},
    (
        profiles.mean_{{ feature }} - population.population_mean_{{ feature }}
    ) / population.population_sd_{{ feature }} as zscore_{{ feature }},
    {%- endfor %}
    top_diagnoses.top_diagnoses
from profiles
inner join personas on profiles.cluster_id = personas.cluster_id
left join catalogue on personas.catalogue_persona_name = catalogue.persona_name
left join top_diagnoses on profiles.cluster_id = top_diagnoses.cluster_id
cross join population
