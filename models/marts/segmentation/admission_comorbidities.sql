-- One row per hospital admission (275 on the demo): the 17 Charlson conditions as coded in
-- that admission, and its Charlson Comorbidity Index (conditions with the hierarchy applied,
-- plus age points at admission). Matches MIT-LCP mimic-code's `charlson` concept admission
-- by admission (scripts/check_charlson_parity.py). See `charlson_comorbidity_index`.
with

admissions as (

    select
        subject_id,
        hadm_id,
        admitted_at,
        age_at_admission
    from {{ ref('int_admissions_sequenced') }}

),

conditions as (

    select
        hadm_id,
        {%- for condition in charlson_condition_names() %}
        has_{{ condition }},
        {%- endfor %}
        num_charlson_conditions,
        charlson_condition_score
    from {{ ref('int_charlson_conditions_aggregated_to_admissions') }}

),

-- both unique on hadm_id: one-to-one; an admission with no condition coded keeps its row
joined as (

    select
        admissions.subject_id,
        admissions.hadm_id,
        admissions.admitted_at,
        admissions.age_at_admission,
        {%- for condition in charlson_condition_names() %}
        coalesce(conditions.has_{{ condition }}, false) as has_{{ condition }},
        {%- endfor %}
        coalesce(conditions.num_charlson_conditions, 0) as num_charlson_conditions,
        coalesce(conditions.charlson_condition_score, 0) as charlson_condition_score,
        {{ charlson_age_points('admissions.age_at_admission') }} as charlson_age_points
    from admissions
    left join conditions on admissions.hadm_id = conditions.hadm_id

)

select
    subject_id,
    hadm_id,
    admitted_at,
    age_at_admission,
    {%- for condition in charlson_condition_names() %}
    has_{{ condition }},
    {%- endfor %}
    num_charlson_conditions,
    charlson_condition_score,
    charlson_age_points,
    charlson_condition_score + charlson_age_points as charlson_comorbidity_index
from joined
