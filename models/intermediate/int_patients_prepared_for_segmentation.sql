{%- set features = cluster_feature_names() -%}
{%- set demographic = cluster_demographic_feature_names() -%}
-- One row per patient of the clustering population (patients with a hospital admission, see
-- int_patients_classified_by_population): exactly the clustering inputs, in the configured
-- order (the feature catalogue's is_clustered features, then the demographic encodings if
-- cluster_include_demographics is true). Every segmentation model, Python or SQL, reads its
-- rows and features from here, so they cannot disagree about who is clustered or which
-- columns are.
with

population as (

    select subject_id
    from {{ ref('int_patients_classified_by_population') }}
    where is_in_clustering_population

),

features as (

    select
        subject_id,
        {%- for feature in features if feature not in demographic %}
        {{ feature }},
        {%- endfor %}
        gender,
        age_at_last_admission
    from {{ ref('int_patient_features_assembled') }}

),

encoded as (

    select
        features.subject_id,
        {%- for feature in features if feature not in demographic %}
        features.{{ feature }},
        {%- endfor %}
        -- age at the last admission: defined for every patient of the clustering population,
        -- who all have an admission (so no reach back to staging for the anchor age)
        features.age_at_last_admission as age_years,
        -- 'M' and 'Unknown' both encode as 0: the encoding marks recorded female sex only.
        case when features.gender = 'F' then 1 else 0 end as is_female
    from features
    -- both at patient grain (tested unique): keeps the clustering population, one row each
    inner join population on features.subject_id = population.subject_id

)

select
    subject_id,
    {{ features | join(',\n    ') }}
from encoded
