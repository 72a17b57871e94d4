{%- set attributes = ['age_bucket', 'gender', 'insurance', 'race'] -%}
-- Who lands in which segment: for each segment and demographic attribute, the share of the
-- segment's patients in each category, next to that category's share of the population.
-- Every category seen in the population appears for every segment (0 where absent), so the
-- shares of one segment and attribute always sum to 1 and charts stack completely.
with

patients as (

    select
        subject_id,
        cluster_id,
        {{ attributes | join(',\n        ') }}
    from {{ ref('patient_segments') }}

),

-- long format: one row per patient and attribute
patient_categories as (

    {%- for attribute in attributes %}
    select
        subject_id,
        cluster_id,
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
        count(*) as num_population_patients
    from patient_categories
    group by
        attribute_name,
        category

),

segment_sizes as (

    select
        cluster_id,
        count(*) as num_segment_patients
    from patients
    group by cluster_id

),

population as (

    select count(*) as num_population_patients
    from patients

),

segment_counts as (

    select
        cluster_id,
        attribute_name,
        category,
        count(*) as num_patients
    from patient_categories
    group by
        cluster_id,
        attribute_name,
        category

),

-- every (segment, attribute, category) combination, so absent categories show as 0
grid as (

    select
        segment_sizes.cluster_id,
        segment_sizes.num_segment_patients,
        categories.attribute_name,
        categories.category,
        categories.num_population_patients
    from segment_sizes
    cross join categories

)

select
    grid.cluster_id,
    grid.attribute_name,
    grid.category,
    coalesce(segment_counts.num_patients, 0) as num_patients,
    coalesce(segment_counts.num_patients, 0) * 1.0 / grid.num_segment_patients as share_of_segment,
    grid.num_population_patients * 1.0 / population.num_population_patients as share_of_population
from grid
cross join population
left join segment_counts
    on
        grid.cluster_id = segment_counts.cluster_id
        and grid.attribute_name = segment_counts.attribute_name
        and grid.category = segment_counts.category
