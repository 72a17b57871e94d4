{#- The features profiled as means: every numeric feature of patient_features, clustering input or not. -#}
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
        {{ feature }},
        {%- endfor %}
        {%- for flag in profile_flags %}
        {{ flag }},
        {%- endfor %}
        readmission_index_stays
    from {{ ref('patient_features') }}

),

-- Both inputs are at patient grain (tested unique), so this join is one-to-one.
clustered_features as (

    select
        clusters.cluster_id,
        {%- for feature in profile_features %}
        features.{{ feature }},
        {%- endfor %}
        {%- for flag in profile_flags %}
        features.{{ flag }},
        {%- endfor %}
        features.readmission_index_stays
    from clusters
    inner join features on clusters.subject_id = features.subject_id

),

profiles as (

    select
        cluster_id,
        count(*) as num_patients,
        {%- for feature in profile_features %}
        -- averaged as fixed-point numbers: a sum of floats depends on the order rows reach it
        -- (threads), and the same input must give the same output, digit for digit
        avg(cast({{ feature }} as {{ dbt.type_numeric() }})) as mean_{{ feature }},
        {%- endfor %}
        {%- for flag, rate in profile_flags.items() %}
        avg(case when {{ flag }} then 1.0 when not {{ flag }} then 0.0 end) as {{ rate }},
        {%- endfor %}
        -- pooled over the segment's index stays, not a mean of patients' rates
        sum(readmissions_30d) * 1.0 / nullif(sum(readmission_index_stays), 0) as readmission_rate,
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
    mean_{{ feature }},
    {%- endfor %}
    readmission_rate,
    {%- for rate in profile_flags.values() %}
    {{ rate }}{{ "," if not loop.last }}
    {%- endfor %}
from profiles
