{%- set features = cluster_feature_names() -%}
-- Scores every patient against the fitted segmentation model using warehouse tables only:
-- the clustering inputs and segment_centroids (transform, scaler mean and scale, centroid
-- per feature). No Python: a BI tool or a later warehouse job can score new patients with
-- this same SQL. A dbt test holds its answer to patient_clusters' for every patient.
--
-- The model's rows are pivoted to one column per feature so that each squared distance is an
-- explicit sum in feature order: a sum() aggregate over long rows adds in whatever order
-- parallel threads deliver them, and floating-point addition is not associative, so reruns
-- would differ in the last bits.
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
        transform,
        scaler_mean,
        scaler_scale,
        centroid_scaled
    from {{ ref('segment_centroids') }}

),

-- one row: each feature's transform and scaling (the same on every segment's rows, tested)
feature_scaling as (

    select
        {%- for feature in features %}
        max(case when feature_name = '{{ feature }}' then transform end) as transform_{{ feature }},
        max(case when feature_name = '{{ feature }}' then scaler_mean end) as mean_{{ feature }},
        max(case when feature_name = '{{ feature }}' then scaler_scale end) as scale_{{ feature }},
        {%- endfor %}
        count(distinct feature_name) as num_model_features
    from centroids

),

-- one row per segment: its centroid in standardized units
centroid_coordinates as (

    select
        {%- for feature in features %}
        max(case when feature_name = '{{ feature }}' then centroid_scaled end) as centroid_{{ feature }},
        {%- endfor %}
        cluster_id
    from centroids
    group by cluster_id

),

-- the model's own transform (ln(1 + x) for log1p), then (x - mean) / scale
scaled as (

    select
        {%- for feature in features %}
        (
            case
                when feature_scaling.transform_{{ feature }} = 'log1p'
                    then ln(1 + cast(inputs.{{ feature }} as {{ type_double() }}))
                else cast(inputs.{{ feature }} as {{ type_double() }})
            end
            - feature_scaling.mean_{{ feature }}
        ) / feature_scaling.scale_{{ feature }} as scaled_{{ feature }},
        {%- endfor %}
        inputs.subject_id,
        -- features of the input that the model also has (must be all of the model's)
        0
        {%- for feature in features %}
        + case when feature_scaling.mean_{{ feature }} is not null then 1 else 0 end
        {%- endfor %} as num_features_scored
    from inputs
    cross join feature_scaling

),

differences as (

    select
        {%- for feature in features %}
        scaled.scaled_{{ feature }} - centroid_coordinates.centroid_{{ feature }} as difference_{{ feature }},
        {%- endfor %}
        scaled.subject_id,
        centroid_coordinates.cluster_id,
        scaled.num_features_scored
    from scaled
    cross join centroid_coordinates

),

squared_distances as (

    select
        subject_id,
        cluster_id,
        num_features_scored,
        {%- for feature in features %}
        {{ "+ " if not loop.first }}difference_{{ feature }} * difference_{{ feature }}
        {%- endfor %} as squared_distance
    from differences

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
            order by squared_distance asc, cluster_id asc
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
