-- One row per hospital episode with at least one Charlson condition coded in its stays, among
-- the diagnoses the features see: the conditions coded, and their score under LACE's own
-- weights (seed lace_charlson_weights) with the Charlson hierarchy applied. LACE's C is the
-- comorbidity an index admission's record shows (docs block lace_comorbidity): the diagnoses
-- coded in the episode's own stays, not the patient's earlier ones.
with

admission_conditions as (

    select
        subject_id,
        hadm_id,
        condition,
        hierarchy_group
    from {{ ref('int_diagnoses_grouped_to_charlson_conditions') }}

),

episode_stays as (

    select
        hadm_id,
        episode_number
    from {{ ref('int_admissions_grouped_to_episodes') }}

),

lace_weights as (

    select
        condition,
        lace_weight
    from {{ ref('lace_charlson_weights') }}

),

-- episode_stays is unique on hadm_id: each coded condition lands in its stay's episode; a
-- condition coded in several stays of the episode counts once
episode_conditions as (

    select distinct
        admission_conditions.subject_id,
        episode_stays.episode_number,
        admission_conditions.condition,
        admission_conditions.hierarchy_group
    from admission_conditions
    inner join episode_stays on admission_conditions.hadm_id = episode_stays.hadm_id

),

-- lace_weights is unique on condition and covers every condition (tested): many-to-one
weighted as (

    select
        episode_conditions.subject_id,
        episode_conditions.episode_number,
        episode_conditions.condition,
        episode_conditions.hierarchy_group,
        lace_weights.lace_weight
    from episode_conditions
    inner join lace_weights on episode_conditions.condition = lace_weights.condition

),

-- Hierarchy, as the project's Charlson score applies it: within a group (liver disease,
-- diabetes, malignancy) only the heaviest coded condition counts.
group_points as (

    select
        subject_id,
        episode_number,
        hierarchy_group,
        max(lace_weight) as points,
        count(*) as num_conditions
    from weighted
    group by subject_id, episode_number, hierarchy_group

),

aggregated as (

    select
        subject_id,
        episode_number,
        cast(sum(num_conditions) as {{ dbt.type_bigint() }}) as num_charlson_conditions,
        cast(sum(points) as {{ dbt.type_bigint() }}) as lace_charlson_score
    from group_points
    group by subject_id, episode_number

)

select
    subject_id,
    episode_number,
    num_charlson_conditions,
    lace_charlson_score
from aggregated
