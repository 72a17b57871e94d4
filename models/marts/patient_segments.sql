-- One row per patient: their segment, the segment's persona and suggested care-management
-- action, and the demographics an equity review compares across segments. The patient-level
-- mart for outreach lists and BI filters.
with

clusters as (

    select
        subject_id,
        cluster_id,
        distance_to_centroid
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
        gender,
        age_bucket
    from {{ ref('patient_features') }}

),

last_admission as (

    select
        subject_id,
        insurance,
        race
    from {{ ref('int_admissions_last_per_patient') }}

)

-- every input is at patient or segment grain with unique keys (tested): no fan-out
select
    clusters.subject_id,
    clusters.cluster_id,
    personas.persona_name,
    personas.catalogue_persona_name,
    catalogue.care_management_action,
    clusters.distance_to_centroid,
    features.gender,
    features.age_bucket,
    -- a patient never admitted has no admission record of insurance or race
    coalesce(last_admission.insurance, 'Unknown') as insurance,
    coalesce(last_admission.race, 'Unknown') as race
from clusters
inner join personas on clusters.cluster_id = personas.cluster_id
left join catalogue on personas.catalogue_persona_name = catalogue.persona_name
left join features on clusters.subject_id = features.subject_id
left join last_admission on clusters.subject_id = last_admission.subject_id
