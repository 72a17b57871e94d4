{%- set attributes = ['age_bucket', 'gender', 'insurance', 'race'] -%}
-- Who lands in which segment: for each segment and demographic attribute, the share of the
-- segment's patients in each category, next to that category's share of the registry (every
-- patient of hosp.patients) and of the clustering population (the admitted patients).
-- Every category seen in the population appears for every segment (0 where absent), so the
-- shares of one segment and attribute always sum to 1 and charts stack completely.
with

patients as (

    select
        subject_id,
        segment_key,
        segment_kind,
        {{ attributes | join(',\n        ') }}
    from {{ ref('patient_segments') }}

),

-- long format: one row per patient and attribute
patient_categories as (

    {%- for attribute in attributes %}
    select
        subject_id,
        segment_key,
        segment_kind,
        '{{ attribute }}' as attribute_name,
        {{ attribute }} as category
    from patients
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}

),

categories as (

    select
        attribute_name,
        category,
        count(*) as num_registry_patients,
        sum(case when segment_kind = 'clustered' then 1 else 0 end) as num_clustered_patients
    from patient_categories
    group by
        attribute_name,
        category

),

segment_sizes as (

    select
        segment_key,
        count(*) as num_segment_patients
    from patients
    group by segment_key

),

population as (

    select
        count(*) as num_registry_patients,
        sum(case when segment_kind = 'clustered' then 1 else 0 end) as num_clustered_patients
    from patients

),

segment_counts as (

    select
        segment_key,
        attribute_name,
        category,
        count(*) as num_patients
    from patient_categories
    group by
        segment_key,
        attribute_name,
        category

),

-- every (segment, attribute, category) combination, so absent categories show as 0
grid as (

    select
        segment_sizes.segment_key,
        segment_sizes.num_segment_patients,
        categories.attribute_name,
        categories.category,
        categories.num_registry_patients,
        categories.num_clustered_patients
    from segment_sizes
    cross join categories

)

select
    grid.segment_key,
    grid.attribute_name,
    grid.category,
    coalesce(segment_counts.num_patients, 0) as num_patients,
    cast(coalesce(segment_counts.num_patients, 0) as {{ type_double() }})
    / grid.num_segment_patients as share_of_segment,
    cast(grid.num_registry_patients as {{ type_double() }})
    / population.num_registry_patients as share_of_registry,
    cast(grid.num_clustered_patients as {{ type_double() }})
    / nullif(population.num_clustered_patients, 0) as share_of_clustered_population
from grid
cross join population
left join segment_counts
    on
        grid.segment_key = segment_counts.segment_key
        and grid.attribute_name = segment_counts.attribute_name
        and grid.category = segment_counts.category
