-- Who lands in which segment: the mix of age bucket, gender and insurance (and race) in each
-- segment next to the whole population, for equity reviews.
with

mix as (

    select
        segment_key,
        attribute_name,
        category,
        num_patients,
        share_of_segment,
        share_of_registry
    from {{ ref('segment_demographic_mix') }}
    where attribute_name in ('age_bucket', 'gender', 'insurance', 'race')

),

personas as (

    select
        segment_key,
        segment_name
    from {{ ref('segments') }}

)

select
    mix.segment_key,
    personas.segment_name,
    mix.attribute_name,
    mix.category,
    mix.num_patients,
    round(100.0 * mix.share_of_segment, 1) as pct_of_segment,
    round(100.0 * mix.share_of_registry, 1) as pct_of_registry,
    -- above 0: over-represented in the segment compared with all patients
    round(100.0 * (mix.share_of_segment - mix.share_of_registry), 1) as difference_pct_points
from mix
inner join personas on mix.segment_key = personas.segment_key
order by mix.segment_key, mix.attribute_name, mix.category
