-- One row per patient of hosp.patients: their segment, its kind, persona, suggested
-- care-management action and outreach priority, and the demographics an equity review compares
-- across segments. The patient-level mart for outreach lists and BI filters.
--
-- Two kinds of segment cover the registry between them: patients of the clustering population
-- are scored against the K-Means centroids (patient_cluster_assignments: the Python or
-- the SQL scorer, whichever the engine runs); everyone else falls in one of the catalogue's
-- rule-defined segments by the rules of int_patients_assigned_to_rule_segments, with no
-- cluster and no distance.
with

rule_assignments as (

    select
        subject_id,
        segment_rule
    from {{ ref('int_patients_assigned_to_rule_segments') }}

),

clusters as (

    select
        subject_id,
        cluster_id,
        distance_to_centroid
    from {{ ref('patient_cluster_assignments') }}

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

-- the catalogue's segment for each rule (unique on segment_rule, tested)
rule_defined_segments as (

    select
        segment_rule,
        persona_key,
        persona_name
    from catalogue
    where segment_rule is not null

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

-- everyone else in the registry: their rule's segment (every rule has one, tested)
rule_defined as (

    select
        rule_assignments.subject_id,
        rule_defined_segments.persona_key as segment_key,
        'rule_defined' as segment_kind,
        cast(null as {{ dbt.type_bigint() }}) as cluster_id,
        rule_defined_segments.persona_name,
        rule_defined_segments.persona_name as catalogue_persona_name,
        cast(null as {{ type_double() }}) as distance_to_centroid
    from rule_assignments
    inner join rule_defined_segments on rule_assignments.segment_rule = rule_defined_segments.segment_rule

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
    segmented.persona_name as segment_name,
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
