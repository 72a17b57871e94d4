-- segment_centroids does not read segmentation_diagnostics (a fixed k comes from the config,
-- so the full fit runs beside the diagnostics instead of after them). This holds the two
-- together: the fitted model has exactly the k segments, numbered 0..k-1, that the
-- diagnostics mark as chosen. Returns one row when they disagree.
with

chosen as (

    select k
    from {{ ref('segmentation_diagnostics') }}
    where is_chosen

),

fitted as (

    select
        count(distinct cluster_id) as num_segments,
        min(cluster_id) as lowest_cluster_id,
        max(cluster_id) as highest_cluster_id
    from {{ ref('segment_centroids') }}

)

select
    chosen.k as chosen_k,
    fitted.num_segments,
    fitted.lowest_cluster_id,
    fitted.highest_cluster_id
from fitted
full outer join chosen on 1 = 1
where
    chosen.k is null
    or fitted.num_segments <> chosen.k
    or fitted.lowest_cluster_id <> 0
    or fitted.highest_cluster_id <> chosen.k - 1
