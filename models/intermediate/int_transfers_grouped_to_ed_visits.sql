-- One row per emergency department visit, from hosp.transfers (docs block
-- ed_visits_from_transfers). MIMIC-IV can split one stay in the ED over several `ED` rows,
-- the next starting when the previous ends; rows of a patient that meet or overlap are one
-- visit. A visit that led to a hospital stay carries that stay's hadm_id; one that led to no
-- admission has none.
with

ed_rows as (

    select
        subject_id,
        hadm_id,
        transfer_id,
        entered_at,
        -- a row without an end time (not seen in MIMIC-IV) is taken to end where it starts
        coalesce(left_at, entered_at) as left_at
    from {{ ref('stg_mimic__transfers') }}
    where event_type = 'ed'

),

-- the latest end among the patient's earlier ED rows: a row starting by then continues a visit
continuations_flagged as (

    select
        subject_id,
        hadm_id,
        transfer_id,
        entered_at,
        left_at,
        coalesce(
            entered_at <= max(left_at) over (
                partition by subject_id
                order by entered_at, transfer_id
                rows between unbounded preceding and 1 preceding
            ),
            false
        ) as continues_previous_row
    from ed_rows

),

visits_numbered as (

    select
        subject_id,
        hadm_id,
        transfer_id,
        entered_at,
        left_at,
        cast(sum(case when continues_previous_row then 0 else 1 end) over (
            partition by subject_id
            order by entered_at, transfer_id
            rows between unbounded preceding and current row
        ) as {{ dbt.type_bigint() }}) as ed_visit_number
    from continuations_flagged

),

visits as (

    select
        subject_id,
        ed_visit_number,
        min(entered_at) as ed_arrived_at,
        max(left_at) as ed_departed_at,
        -- the rows of one visit name at most one admission (tested: num_admissions_linked)
        max(hadm_id) as hadm_id,
        count(distinct hadm_id) as num_admissions_linked,
        count(*) as num_ed_rows
    from visits_numbered
    group by subject_id, ed_visit_number

)

select
    subject_id,
    ed_visit_number,
    ed_arrived_at,
    ed_departed_at,
    hadm_id,
    hadm_id is not null as led_to_admission,
    num_admissions_linked,
    num_ed_rows
from visits
