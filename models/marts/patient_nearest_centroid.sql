{%- set features = cluster_feature_names() -%}
-- Scores every patient against the fitted segmentation model using warehouse tables only:
-- the clustering inputs and segment_centroids (transform, scaler mean and scale, centroid
-- per feature). No Python: a BI tool or a later warehouse job can score new patients with
-- this same SQL. A dbt test holds its answer to patient_clusters' for every patient.
with

inputs as (

    select
        subject_id,
        {{ features | join(',\n        ') }}
    from {{ ref('int_patients_prepared_for_segmentation') }}

),

centroids as (

    select
        cluster_id,
        feature_name,
        centroid_scaled
    from {{ ref('segment_centroids') }}

),

-- the scaling is the same in every cluster's rows (tested); keep one row per feature
feature_scaling as (

    select distinct
        feature_name,
        transform,
        scaler_mean,
        scaler_scale
    from {{ ref('segment_centroids') }}

),

-- long format: one row per patient and input column
patient_values as (

    {%- for feature in features %}
    select
        subject_id,
        '{{ feature }}' as feature_name,
        cast({{ feature }} as double) as raw_value
    from inputs
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}

),

-- the model's own transform and scaling; features the model does not use drop out here
scaled_values as (

    select
        patient_values.subject_id,
        patient_values.feature_name,
        (
            case
                when feature_scaling.transform = 'log1p' then ln(1 + patient_values.raw_value)
                else patient_values.raw_value
            end
            - feature_scaling.scaler_mean
        ) / feature_scaling.scaler_scale as scaled_value
    from patient_values
    inner join feature_scaling on patient_values.feature_name = feature_scaling.feature_name

),

squared_distances as (

    select
        scaled_values.subject_id,
        centroids.cluster_id,
        sum(
            (scaled_values.scaled_value - centroids.centroid_scaled)
            * (scaled_values.scaled_value - centroids.centroid_scaled)
        ) as squared_distance,
        count(*) as num_features_scored
    from scaled_values
    inner join centroids on scaled_values.feature_name = centroids.feature_name
    group by
        scaled_values.subject_id,
        centroids.cluster_id

),

-- nearest first; an exact tie goes to the lowest cluster_id, as in Python
ranked as (

    select
        subject_id,
        cluster_id,
        squared_distance,
        num_features_scored,
        row_number() over (
            partition by subject_id
            order by squared_distance, cluster_id
        ) as distance_rank
    from squared_distances

),

nearest as (

    select
        subject_id,
        cluster_id,
        squared_distance,
        num_features_scored
    from ranked
    where distance_rank = 1

),

runner_up as (

    select
        subject_id,
        cluster_id,
        squared_distance
    from ranked
    where distance_rank = 2

)

select
    nearest.subject_id,
    nearest.cluster_id,
    sqrt(nearest.squared_distance) as distance_to_centroid,
    runner_up.cluster_id as runner_up_cluster_id,
    sqrt(runner_up.squared_distance) - sqrt(nearest.squared_distance) as distance_margin,
    nearest.num_features_scored
from nearest
left join runner_up on nearest.subject_id = runner_up.subject_id
