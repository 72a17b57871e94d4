-- Who lands in which segment: the mix of age bucket, gender and insurance (and race) in each
-- segment next to the whole population, for equity reviews.
with

mix as (

    select
        cluster_id,
        attribute_name,
        category,
        num_patients,
        share_of_segment,
        share_of_population
    from {{ ref('segment_demographic_mix') }}
    where attribute_name in ('age_bucket', 'gender', 'insurance', 'race')

),

personas as (

    select
        cluster_id,
        persona_name
    from {{ ref('segment_profiles') }}

)

select
    mix.cluster_id,
    personas.persona_name,
    mix.attribute_name,
    mix.category,
    mix.num_patients,
    round(100.0 * mix.share_of_segment, 1) as pct_of_segment,
    round(100.0 * mix.share_of_population, 1) as pct_of_population,
    -- above 0: over-represented in the segment compared with all patients
    round(100.0 * (mix.share_of_segment - mix.share_of_population), 1) as difference_pct_points
from mix
inner join personas on mix.cluster_id = personas.cluster_id
order by mix.cluster_id, mix.attribute_name, mix.category
