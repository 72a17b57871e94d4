-- One row per hospital episode of the release: the patient's emergency department visits in
-- the 6 months before the episode began, not counting a visit that led to one of the
-- episode's own stays (LACE's E, van Walraven et al., CMAJ 2010; docs block
-- ed_visits_before_episode). Every visit before the episode began is known when it begins,
-- so no feature window applies.
with

episodes as (

    select
        subject_id,
        episode_number,
        episode_admitted_at
    from {{ ref('int_episodes_flagged_for_readmission') }}

),

episode_stays as (

    select
        hadm_id,
        episode_number
    from {{ ref('int_admissions_grouped_to_episodes') }}

),

ed_visits as (

    select
        subject_id,
        ed_visit_number,
        ed_arrived_at,
        hadm_id
    from {{ ref('int_transfers_grouped_to_ed_visits') }}

),

-- the episode a visit led into, if any: episode_stays is unique on hadm_id (one row per visit)
ed_visits_placed as (

    select
        ed_visits.subject_id,
        ed_visits.ed_visit_number,
        ed_visits.ed_arrived_at,
        episode_stays.episode_number as led_to_episode_number
    from ed_visits
    left join episode_stays on ed_visits.hadm_id = episode_stays.hadm_id

),

-- many visits to one episode, re-grained to the episode just below
visits_before as (

    select
        episodes.subject_id,
        episodes.episode_number,
        count(*) as ed_visits
    from episodes
    inner join ed_visits_placed
        on
            episodes.subject_id = ed_visits_placed.subject_id
            and {{ dbt.dateadd('month', -6, 'episodes.episode_admitted_at') }}
            <= ed_visits_placed.ed_arrived_at
            and episodes.episode_admitted_at > ed_visits_placed.ed_arrived_at
            and coalesce(episodes.episode_number <> ed_visits_placed.led_to_episode_number, true)
    group by episodes.subject_id, episodes.episode_number

)

select
    episodes.subject_id,
    episodes.episode_number,
    coalesce(visits_before.ed_visits, 0) as ed_visits_in_6_months_before
from episodes
left join visits_before
    on
        episodes.subject_id = visits_before.subject_id
        and episodes.episode_number = visits_before.episode_number
