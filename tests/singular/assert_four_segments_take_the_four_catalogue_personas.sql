-- With four segments, each takes a different persona of the catalogue and every catalogue
-- persona is used: returns the personas used by no segment, or by more than one, and any
-- segment named outside the catalogue. With any other number of segments it checks nothing
-- (they are named descriptively), so it holds for k = 4 whether fixed or chosen by `auto`.
with

segments as (

    select
        cluster_id,
        persona_name
    from {{ ref('segment_personas') }}

),

catalogue as (

    select persona_name
    from {{ ref('persona_catalogue') }}

),

four_segments as (

    select count(*) = 4 as applies
    from segments

),

uses as (

    select
        coalesce(catalogue.persona_name, segments.persona_name) as persona_name,
        count(segments.cluster_id) as num_segments,
        max(case when catalogue.persona_name is null then 1 else 0 end) as outside_catalogue
    from catalogue
    full outer join segments on catalogue.persona_name = segments.persona_name
    group by coalesce(catalogue.persona_name, segments.persona_name)

)

select
    uses.persona_name,
    uses.num_segments,
    uses.outside_catalogue
from uses
cross join four_segments
where
    four_segments.applies
    and (uses.num_segments <> 1 or uses.outside_catalogue = 1)
