-- One row per admission with at least one Charlson condition coded: a flag per condition as
-- coded, and the condition part of the Charlson score with the hierarchy applied. See the
-- `charlson_comorbidity_index` docs block.
with

admission_conditions as (

    select
        hadm_id,
        condition,
        weight,
        hierarchy_group
    from {{ ref('int_diagnoses_grouped_to_charlson_conditions') }}

),

-- Hierarchy: within a group (liver disease, diabetes, malignancy) only the heaviest coded
-- condition counts; every other condition is a group of its own.
group_points as (

    select
        hadm_id,
        hierarchy_group,
        max(weight) as points
    from admission_conditions
    group by hadm_id, hierarchy_group

),

condition_scores as (

    select
        hadm_id,
        cast(sum(points) as {{ dbt.type_bigint() }}) as charlson_condition_score
    from group_points
    group by hadm_id

),

-- The flags say what was coded; mild and severe liver disease can both be true.
flags as (

    select
        hadm_id,
        {%- for condition in charlson_condition_names() %}
        max(case when condition = '{{ condition }}' then 1 else 0 end) = 1 as has_{{ condition }},
        {%- endfor %}
        count(*) as num_charlson_conditions
    from admission_conditions
    group by hadm_id

),

-- both unique on hadm_id: one-to-one
aggregated as (

    select
        flags.hadm_id,
        {%- for condition in charlson_condition_names() %}
        flags.has_{{ condition }},
        {%- endfor %}
        flags.num_charlson_conditions,
        condition_scores.charlson_condition_score
    from flags
    inner join condition_scores on flags.hadm_id = condition_scores.hadm_id

)

select * from aggregated
