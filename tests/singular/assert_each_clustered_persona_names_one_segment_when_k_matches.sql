-- With as many clustered segments as clustered catalogue personas, each segment takes a
-- different clustered persona and every one is used: returns the personas used by no segment,
-- or by more than one, and any segment named outside the clustered catalogue. With any other
-- number of segments it checks nothing (they are named descriptively), so it holds whether k
-- is fixed or chosen by `auto`, and whatever the catalogue holds.
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
    where persona_kind = 'clustered'

),

one_to_one as (

    select (select count(*) from segments) = (select count(*) from catalogue) as applies

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
cross join one_to_one
where
    one_to_one.applies
    and (uses.num_segments <> 1 or uses.outside_catalogue = 1)
