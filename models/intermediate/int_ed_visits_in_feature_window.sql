-- One row per emergency department visit the features may see (docs block feature_index): in
-- whole-history mode every visit; with an index, the visits that ended on or before the
-- patient's index, as the admissions seam keeps the stays discharged by then.
with

ed_visits as (

    select
        subject_id,
        ed_visit_number,
        ed_arrived_at,
        ed_departed_at,
        hadm_id,
        led_to_admission
    from {{ ref('int_transfers_grouped_to_ed_visits') }}

),

{%- if feature_index() is none %}

windowed as (

    select
        subject_id,
        ed_visit_number,
        ed_arrived_at,
        ed_departed_at,
        hadm_id,
        led_to_admission
    from ed_visits

)

{%- else %}

indexed as (

    select
        subject_id,
        index_at
    from {{ ref('int_patients_indexed') }}
    where index_at is not null

),

-- indexed is unique on subject_id: each visit is kept once or left out
windowed as (

    select
        ed_visits.subject_id,
        ed_visits.ed_visit_number,
        ed_visits.ed_arrived_at,
        ed_visits.ed_departed_at,
        ed_visits.hadm_id,
        ed_visits.led_to_admission
    from ed_visits
    inner join indexed on ed_visits.subject_id = indexed.subject_id
    where ed_visits.ed_departed_at <= indexed.index_at

)

{%- endif %}

select
    subject_id,
    ed_visit_number,
    ed_arrived_at,
    ed_departed_at,
    hadm_id,
    led_to_admission
from windowed
