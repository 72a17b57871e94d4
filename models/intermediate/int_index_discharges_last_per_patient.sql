-- One row per patient with at least one index discharge the features see: the LACE score of
-- the patient's last one (latest discharge, then the highest episode number), the score a
-- care manager ranks the patient by (outreach_list), with its date and how many index
-- discharges the patient has. Docs block lace_index.
with

index_discharges as (

    select
        subject_id,
        episode_number,
        discharged_at,
        lace_score,
        lace_risk_band
    from {{ ref('int_index_discharges_scored_with_lace') }}

),

ranked as (

    select
        subject_id,
        episode_number,
        discharged_at,
        lace_score,
        lace_risk_band,
        row_number() over (
            partition by subject_id
            order by discharged_at desc, episode_number desc
        ) as recency_rank,
        count(*) over (partition by subject_id) as num_index_discharges
    from index_discharges

)

select
    subject_id,
    episode_number,
    discharged_at,
    lace_score,
    lace_risk_band,
    num_index_discharges
from ranked
where recency_rank = 1
