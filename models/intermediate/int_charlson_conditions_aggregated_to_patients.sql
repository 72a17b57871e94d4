-- One row per patient with at least one Charlson condition ever coded: the conditions coded
-- in any of the patient's admissions, and their score with the hierarchy applied across
-- admissions (mild liver disease in one stay and severe in another count as severe).
with

admission_conditions as (

    select
        subject_id,
        condition,
        weight,
        hierarchy_group
    from {{ ref('int_diagnoses_grouped_to_charlson_conditions') }}

),

-- a condition coded in several admissions counts once
patient_conditions as (

    select distinct
        subject_id,
        condition,
        weight,
        hierarchy_group
    from admission_conditions

),

group_points as (

    select
        subject_id,
        hierarchy_group,
        max(weight) as points
    from patient_conditions
    group by subject_id, hierarchy_group

),

condition_scores as (

    select
        subject_id,
        cast(sum(points) as {{ dbt.type_bigint() }}) as charlson_condition_score
    from group_points
    group by subject_id

),

condition_counts as (

    select
        subject_id,
        count(*) as num_charlson_conditions
    from patient_conditions
    group by subject_id

),

-- both unique on subject_id: one-to-one
aggregated as (

    select
        condition_counts.subject_id,
        condition_counts.num_charlson_conditions,
        condition_scores.charlson_condition_score
    from condition_counts
    inner join condition_scores on condition_counts.subject_id = condition_scores.subject_id

)

select * from aggregated
