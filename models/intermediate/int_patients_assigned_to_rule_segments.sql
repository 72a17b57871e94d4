-- One row per patient of hosp.patients outside the clustering population: the rule-defined
-- segment they fall in (docs block ed_use_segments). The one place the rules are written; the
-- persona catalogue names a persona for each (`segment_rule`). Rules are tried in order, so
-- each patient gets exactly one: an admitted patient below the clustering threshold, then the
-- never-admitted by their emergency department use.
with

population as (

    select
        subject_id,
        is_in_clustering_population
    from {{ ref('int_patients_classified_by_population') }}

),

admissions as (

    select
        subject_id,
        num_admissions
    from {{ ref('int_admissions_aggregated_to_patients') }}

),

ed_use as (

    select
        subject_id,
        ed_visits,
        max_ed_visits_in_365_days
    from {{ ref('int_ed_visits_aggregated_to_patients') }}

),

-- all three at patient grain (unique on subject_id, tested): one row per patient
outside_population as (

    select
        population.subject_id,
        coalesce(admissions.num_admissions, 0) as num_admissions,
        coalesce(ed_use.ed_visits, 0) as ed_visits,
        coalesce(ed_use.max_ed_visits_in_365_days, 0) as max_ed_visits_in_365_days
    from population
    left join admissions on population.subject_id = admissions.subject_id
    left join ed_use on population.subject_id = ed_use.subject_id
    where not population.is_in_clustering_population

)

select
    subject_id,
    case
        when num_admissions > 0 then 'admitted_outside_clustering_population'
        -- frequent ED use: at least this many visits within some 365 days (var, cited there)
        when max_ed_visits_in_365_days >= {{ var('frequent_ed_visits_per_year') | int }}
            then 'never_admitted_frequent_ed_use'
        when ed_visits > 0 then 'never_admitted_occasional_ed_use'
        else 'never_admitted_no_ed_visit'
    end as segment_rule
from outside_population
