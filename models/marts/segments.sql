-- One row per segment, clustered or rule-defined: what it is (kind, persona, care action,
-- outreach priority), how big it is (of the registry and of the clustering population), how
-- well its persona fits, and the outcome numbers a care-management lead reads first. The
-- segment-level mart every other segment table joins to on segment_key.
with

patients as (

    select
        subject_id,
        segment_key,
        segment_kind,
        cluster_id,
        segment_name,
        catalogue_persona_name,
        care_management_action,
        outreach_priority
    from {{ ref('patient_segments') }}

),

features as (

    select
        subject_id,
        early_readmissions,
        readmission_index_stays
    from {{ ref('patient_features') }}

),

personas as (

    select
        cluster_id,
        naming_rule,
        persona_match_score,
        runner_up_persona_name,
        persona_match_margin,
        is_weak_persona_match
    from {{ ref('segment_personas') }}

),

top_diagnoses as (

    select
        segment_key,
        {{ dbt.listagg('long_title', "'; '", 'order by diagnosis_rank') }} as top_diagnoses
    from {{ ref('segment_top_diagnoses') }}
    where diagnosis_rank <= 3
    group by segment_key

),

-- both at patient grain (tested unique): one-to-one
sized as (

    select
        patients.segment_key,
        patients.segment_kind,
        patients.cluster_id,
        patients.segment_name,
        patients.catalogue_persona_name,
        patients.care_management_action,
        patients.outreach_priority,
        count(*) as num_patients,
        -- pooled over the segment's index stays, not a mean of patients' rates
        cast(sum(features.early_readmissions) as {{ type_double() }})
        / nullif(sum(features.readmission_index_stays), 0) as readmission_rate
    from patients
    inner join features on patients.subject_id = features.subject_id
    group by
        patients.segment_key,
        patients.segment_kind,
        patients.cluster_id,
        patients.segment_name,
        patients.catalogue_persona_name,
        patients.care_management_action,
        patients.outreach_priority

),

totals as (

    select
        sum(num_patients) as num_registry_patients,
        sum(case when segment_kind = 'clustered' then num_patients else 0 end)
            as num_clustered_patients
    from sized

)

select
    sized.segment_key,
    sized.segment_kind,
    sized.cluster_id,
    sized.segment_name,
    sized.catalogue_persona_name,
    sized.care_management_action,
    sized.outreach_priority,
    sized.num_patients,
    cast(sized.num_patients as {{ type_double() }}) / totals.num_registry_patients as share_of_registry,
    case
        when sized.segment_kind = 'clustered'
            then cast(sized.num_patients as {{ type_double() }}) / totals.num_clustered_patients
    end as share_of_clustered_population,
    coalesce(personas.naming_rule, 'rule') as naming_rule,
    personas.persona_match_score,
    personas.runner_up_persona_name,
    personas.persona_match_margin,
    personas.is_weak_persona_match,
    sized.readmission_rate as early_readmission_rate,
    top_diagnoses.top_diagnoses
from sized
cross join totals
left join personas on sized.cluster_id = personas.cluster_id
left join top_diagnoses on sized.segment_key = top_diagnoses.segment_key
