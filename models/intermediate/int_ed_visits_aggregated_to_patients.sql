-- One row per patient with at least one emergency department visit the features may see:
-- how many, how many led to no hospital admission, the latest, and the most in any 365 days
-- (docs block ed_use_features). Aggregated before any join, so nothing is double counted.
with

ed_visits as (

    select
        subject_id,
        ed_visit_number,
        ed_arrived_at,
        led_to_admission
    from {{ ref('int_ed_visits_in_feature_window') }}

),

-- Each visit with the visits of the same patient that arrived in the 365 days from it (itself
-- included): many to many within a patient, re-grained to the visit just below.
visits_ahead as (

    select
        opening.subject_id,
        opening.ed_visit_number,
        count(*) as visits_in_365_days
    from ed_visits as opening
    inner join ed_visits as later
        on
            opening.subject_id = later.subject_id
            and opening.ed_arrived_at <= later.ed_arrived_at
            and {{ dbt.dateadd('day', 365, 'opening.ed_arrived_at') }} > later.ed_arrived_at
    group by opening.subject_id, opening.ed_visit_number

),

busiest_year as (

    select
        subject_id,
        max(visits_in_365_days) as max_ed_visits_in_365_days
    from visits_ahead
    group by subject_id

),

aggregated as (

    select
        subject_id,
        count(*) as ed_visits,
        count(case when not led_to_admission then 1 end) as ed_visits_without_admission,
        max(ed_arrived_at) as last_ed_arrived_at
    from ed_visits
    group by subject_id

)

-- both unique on subject_id: one-to-one
select
    aggregated.subject_id,
    aggregated.ed_visits,
    aggregated.ed_visits_without_admission,
    aggregated.last_ed_arrived_at,
    busiest_year.max_ed_visits_in_365_days
from aggregated
inner join busiest_year on aggregated.subject_id = busiest_year.subject_id
