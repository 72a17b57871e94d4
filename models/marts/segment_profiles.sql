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

-- One row per segment, for BI: how big it is and what its patients look like on average.
with

clusters as (

    select
        subject_id,
        cluster_id
    from {{ ref('patient_clusters') }}

),

features as (

    select
        subject_id,
        {%- for feature in profile_features %}
        {{ feature }}{{ "," if not loop.last }}
        {%- endfor %}
    from {{ ref('patient_features') }}

),

-- Both inputs are at patient grain (tested unique), so this join is one-to-one.
clustered_features as (

    select
        clusters.cluster_id,
        {%- for feature in profile_features %}
        features.{{ feature }}{{ "," if not loop.last }}
        {%- endfor %}
    from clusters
    inner join features on clusters.subject_id = features.subject_id

),

profiles as (

    select
        cluster_id,
        count(*) as num_patients,
        {%- for feature in profile_features %}
        avg({{ feature }}) as mean_{{ feature }},
        {%- endfor %}
        -- window over the grouped rows: this cluster's share of all clustered patients
        count(*) * 1.0 / sum(count(*)) over () as share_of_patients
    from clustered_features
    group by cluster_id

)

select
    cluster_id,
    num_patients,
    share_of_patients,
    {%- for feature in profile_features %}
    mean_{{ feature }}{{ "," if not loop.last }}
    {%- endfor %}
from profiles
