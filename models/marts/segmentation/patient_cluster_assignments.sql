-- One row per patient of the clustering population: the segment they are assigned to and their
-- distance to its centroid. The one place the segment marts read the assignment from, whichever
-- scorer produced it (macro segment_assignment(): the Python model patient_clusters where dbt
-- runs Python models, the SQL model patient_nearest_centroid elsewhere; a test holds the two
-- equal). A mart because it reads the scorers' marts; a view: it names the scorer's table, it
-- does not copy it.
{{ config(materialized='view') }}

with

assignment as (

    select
        subject_id,
        cluster_id,
        distance_to_centroid
    from {{ segment_assignment() }}

)

select
    subject_id,
    cluster_id,
    distance_to_centroid
from assignment
