-- One row per patient of hosp.patients: their segment, its kind, persona, suggested
-- care-management action and outreach priority, and the demographics an equity review compares
-- across segments. The patient-level mart for outreach lists and BI filters.
--
-- Two kinds of segment cover the registry between them: patients of the clustering population
-- are scored against the K-Means centroids (int_patients_assigned_to_segments: the Python or
-- the SQL scorer, whichever the engine runs); everyone else falls in the catalogue's
-- rule-defined segment, with no cluster and no distance.
with

population as (

    select
        subject_id,
        is_in_clustering_population
    from {{ ref('int_patients_classified_by_population') }}

),

clusters as (

    select
        subject_id,
        cluster_id,
        distance_to_centroid
    from {{ ref('int_patients_assigned_to_segments') }}

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
        persona_key,
        persona_name,
        segment_rule,
        care_management_action,
        outreach_priority
    from {{ ref('persona_catalogue') }}

),

-- the catalogue's segment for patients outside the clustering population (one row, tested)
rule_defined_segment as (

    select
        persona_key,
        persona_name
    from catalogue
    where segment_rule = 'outside_clustering_population'

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

),

-- clustered patients: their cluster's segment
clustered as (

    select
        clusters.subject_id,
        {{ clustered_segment_key('clusters.cluster_id') }} as segment_key,
        'clustered' as segment_kind,
        clusters.cluster_id,
        personas.persona_name,
        personas.catalogue_persona_name,
        clusters.distance_to_centroid
    from clusters
    inner join personas on clusters.cluster_id = personas.cluster_id

),

-- everyone else in the registry: the rule-defined segment
rule_defined as (

    select
        population.subject_id,
        rule_defined_segment.persona_key as segment_key,
        'rule_defined' as segment_kind,
        cast(null as {{ dbt.type_bigint() }}) as cluster_id,
        rule_defined_segment.persona_name,
        rule_defined_segment.persona_name as catalogue_persona_name,
        cast(null as {{ type_double() }}) as distance_to_centroid
    from population
    cross join rule_defined_segment
    where not population.is_in_clustering_population

),

segmented as (

    select
        subject_id,
        segment_key,
        segment_kind,
        cluster_id,
        persona_name,
        catalogue_persona_name,
        distance_to_centroid
    from clustered
    union all
    select
        subject_id,
        segment_key,
        segment_kind,
        cluster_id,
        persona_name,
        catalogue_persona_name,
        distance_to_centroid
    from rule_defined

)

-- every input is at patient or segment grain with unique keys (tested): no fan-out
select
    segmented.subject_id,
    segmented.segment_key,
    segmented.segment_kind,
    segmented.cluster_id,
    segmented.persona_name,
    segmented.catalogue_persona_name,
    catalogue.care_management_action,
    catalogue.outreach_priority,
    segmented.distance_to_centroid,
    features.gender,
    features.age_bucket,
    -- a patient never admitted has no admission record of insurance or race
    coalesce(last_admission.insurance, 'Unknown') as insurance,
    coalesce(last_admission.race, 'Unknown') as race
from segmented
left join catalogue on segmented.catalogue_persona_name = catalogue.persona_name
left join features on segmented.subject_id = features.subject_id
left join last_admission on segmented.subject_id = last_admission.subject_id
