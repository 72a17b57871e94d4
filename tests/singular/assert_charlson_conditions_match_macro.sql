-- The flag columns of the Charlson models are generated from the macro
-- charlson_condition_names(); the weights and hierarchy come from the charlson_conditions
-- seed. Both must name the same 17 conditions. Returns each condition found on one side only.
with

seed_conditions as (

    select condition from {{ ref('charlson_conditions') }}

),

macro_conditions as (

    {% for condition in charlson_condition_names() -%}
    select '{{ condition }}' as condition
    {% if not loop.last %}union all
    {% endif %}
    {%- endfor %}

)

select
    coalesce(seed_conditions.condition, macro_conditions.condition) as condition,
    case when seed_conditions.condition is null then 'macro only' else 'seed only' end as found_in
from seed_conditions
full outer join macro_conditions on seed_conditions.condition = macro_conditions.condition
where seed_conditions.condition is null or macro_conditions.condition is null
