-- Return-to-hospital curves: per end-of-data assumption, segment (and all patients) and day
-- since the first discharge alive, the risk set, what happened that day and three estimates
-- of the probability of having returned by then: the Aalen-Johansen cumulative incidence
-- with death as a competing risk, the cumulative incidence of death, and 1 - Kaplan-Meier with
-- deaths censored. Each with the variance statsmodels uses (tests compare the two to 1e-9)
-- and a 95 % log(-log) interval. Method and reading: docs block `return_curves`.
with

followed as (

    select
        subject_id,
        end_of_data_assumption,
        outcome,
        follow_up_days
    from {{ ref('int_patients_followed_for_return') }}
    -- not at risk for a single day under that assumption
    where outcome <> 'not_followed'

),

patient_segments as (

    select
        subject_id,
        segment_key
    from {{ ref('patient_segments') }}

),

segment_labels as (

    select
        segment_key,
        segment_name
    from {{ ref('segments') }}

),

-- each patient counts once in their segment's curve and once in the curve of all patients;
-- patient_segments is one row per patient, so the join cannot fan out
grouped as (

    select
        followed.end_of_data_assumption,
        patient_segments.segment_key,
        followed.outcome,
        followed.follow_up_days
    from followed
    inner join patient_segments on followed.subject_id = patient_segments.subject_id

    union all

    select
        end_of_data_assumption,
        'overall' as segment_key,
        outcome,
        follow_up_days
    from followed

),

curves as (

    select
        end_of_data_assumption,
        segment_key,
        count(*) as patients_indexed
    from grouped
    group by end_of_data_assumption, segment_key

),

daily_counts as (

    select
        end_of_data_assumption,
        segment_key,
        follow_up_days as follow_up_day,
        sum(case when outcome = 'return' then 1 else 0 end) as n_returned,
        sum(case when outcome = 'death' then 1 else 0 end) as n_died,
        sum(case when outcome = 'censored' then 1 else 0 end) as n_censored
    from grouped
    group by end_of_data_assumption, segment_key, follow_up_days

),

-- days 0 to the horizon (generate_series counts from 1)
days as (

    select cast(generated_number - 1 as {{ dbt.type_int() }}) as follow_up_day
    from ({{ dbt.generate_series(var('return_curve_horizon_days') + 1) }}) as series

),

-- every day of every curve, including days on which nothing happened
grid as (

    select
        curves.end_of_data_assumption,
        curves.segment_key,
        curves.patients_indexed,
        days.follow_up_day,
        coalesce(daily_counts.n_returned, 0) as n_returned,
        coalesce(daily_counts.n_died, 0) as n_died,
        coalesce(daily_counts.n_censored, 0) as n_censored
    from curves
    cross join days
    left join daily_counts
        on
            curves.end_of_data_assumption = daily_counts.end_of_data_assumption
            and curves.segment_key = daily_counts.segment_key
            and days.follow_up_day = daily_counts.follow_up_day

),

-- at risk on a day: followed at least that long (whoever leaves on a day was at risk on it,
-- so events come before censoring on the same day)
at_risk as (

    select
        end_of_data_assumption,
        segment_key,
        follow_up_day,
        patients_indexed,
        n_returned,
        n_died,
        n_censored,
        patients_indexed - coalesce(sum(n_returned + n_died + n_censored) over (
            partition by end_of_data_assumption, segment_key
            order by follow_up_day
            rows between unbounded preceding and 1 preceding
        ), 0) as n_at_risk,
        sum(n_returned) over cumulative as cumulative_returned,
        sum(n_died) over cumulative as cumulative_died,
        sum(n_censored) over cumulative as cumulative_censored
    from grid
    window cumulative as (
        partition by end_of_data_assumption, segment_key
        order by follow_up_day
        rows between unbounded preceding and current row
    )

),

-- Each day's factor of the product-limit estimators, on the log scale as statsmodels sums
-- them; a day on which everyone at risk has the event takes the survival to 0 for good (and
-- leaves the variance undefined). "Any event" is a return or a death.
steps as (

    select
        end_of_data_assumption,
        segment_key,
        follow_up_day,
        n_returned,
        n_died,
        cast(n_at_risk as {{ type_double() }}) as n,
        case
            when n_returned > 0 and n_returned < n_at_risk
                then ln(1 - cast(n_returned as {{ type_double() }}) / n_at_risk)
            else 0
        end as return_log_step,
        case when n_returned > 0 and n_returned = n_at_risk then 1 else 0 end as return_exhausts,
        -- Greenwood (1926)
        case
            when n_returned > 0 and n_returned < n_at_risk
                then n_returned / (
                    cast(n_at_risk as {{ type_double() }}) * (n_at_risk - n_returned)
                )
            else 0
        end as greenwood_step,
        case
            when n_returned + n_died > 0 and n_returned + n_died < n_at_risk
                then ln(1 - cast(n_returned + n_died as {{ type_double() }}) / n_at_risk)
            else 0
        end as any_event_log_step,
        case
            when n_returned + n_died > 0 and n_returned + n_died = n_at_risk then 1 else 0
        end as any_event_exhausts,
        -- the all-cause term of the incidence variance (statsmodels' first `ra`)
        case
            when n_returned + n_died > 0 and n_returned + n_died < n_at_risk
                then (n_returned + n_died) / (
                    cast(n_at_risk as {{ type_double() }}) * (n_at_risk - n_returned - n_died)
                )
            else 0
        end as any_event_hazard_term
    from at_risk

),

survival as (

    select
        end_of_data_assumption,
        segment_key,
        follow_up_day,
        n_returned,
        n_died,
        n,
        any_event_hazard_term,
        -- Kaplan-Meier of "no return yet", deaths censored, and its Greenwood standard error
        case
            when max(return_exhausts) over cumulative = 1 then 0
            else exp(sum(return_log_step) over cumulative)
        end as return_free_survival,
        case
            when max(return_exhausts) over cumulative = 0
                then exp(sum(return_log_step) over cumulative) * sqrt(sum(greenwood_step) over cumulative)
        end as return_free_survival_se,
        -- Kaplan-Meier of "neither returned nor died" just before the day (1 on day 0), over the
        -- number at risk: the weight of the day's events in Aalen-Johansen
        case
            when n = 0 or coalesce(max(any_event_exhausts) over before_the_day, 0) = 1 then 0
            else exp(coalesce(sum(any_event_log_step) over before_the_day, 0)) / n
        end as prior_survival_per_at_risk,
        max(any_event_exhausts) over cumulative as has_any_event_exhausted
    from steps
    window
        cumulative as (
            partition by end_of_data_assumption, segment_key
            order by follow_up_day
            rows between unbounded preceding and current row
        ),
        before_the_day as (
            partition by end_of_data_assumption, segment_key
            order by follow_up_day
            rows between unbounded preceding and 1 preceding
        )

),

-- Aalen-Johansen (statsmodels' CumIncidenceRight): the sum of each day's events of a cause
-- weighted by the event-free survival just before the day over the number at risk
incidence as (

    select
        end_of_data_assumption,
        segment_key,
        follow_up_day,
        n_returned,
        n_died,
        n,
        any_event_hazard_term,
        prior_survival_per_at_risk,
        has_any_event_exhausted,
        sum(prior_survival_per_at_risk * n_returned) over cumulative as incidence_return,
        sum(prior_survival_per_at_risk * n_died) over cumulative as incidence_death
    from survival
    window cumulative as (
        partition by end_of_data_assumption, segment_key
        order by follow_up_day
        rows between unbounded preceding and current row
    )

),

-- The delta-method variance of a cumulative incidence (Marubini & Valsecchi 1995), term by
-- term as statsmodels' _calc_incidence_right adds them up: first each day's terms...
variance_terms as (

    select
        {%- for cause, events in [('return', 'n_returned'), ('death', 'n_died')] %}
        incidence_{{ cause }},
        incidence_{{ cause }} * any_event_hazard_term as {{ cause }}_hazard_term,
        power(incidence_{{ cause }}, 2) * any_event_hazard_term as {{ cause }}_squared_hazard_term,
        case
            when n > 0 then power(prior_survival_per_at_risk, 2) * (n - {{ events }}) * {{ events }} / n
            else 0
        end as {{ cause }}_binomial_term,
        case
            when n > 0 then prior_survival_per_at_risk * {{ events }} / n else 0
        end as {{ cause }}_step_term,
        case
            when n > 0 then incidence_{{ cause }} * prior_survival_per_at_risk * {{ events }} / n
            else 0
        end as {{ cause }}_weighted_step_term,
        {%- endfor %}
        end_of_data_assumption,
        segment_key,
        follow_up_day,
        any_event_hazard_term,
        has_any_event_exhausted
    from incidence

),

-- ... then their running sums; NULL (undefined) once a day has left no one at risk, as there
variances as (

    select
        {%- for cause in ['return', 'death'] %}
        incidence_{{ cause }},
        case
            when has_any_event_exhausted = 0
                then
                    incidence_{{ cause }} * incidence_{{ cause }} * sum(any_event_hazard_term) over cumulative
                    - 2 * incidence_{{ cause }} * sum({{ cause }}_hazard_term) over cumulative
                    + sum({{ cause }}_squared_hazard_term) over cumulative
                    + sum({{ cause }}_binomial_term) over cumulative
                    - 2 * incidence_{{ cause }} * sum({{ cause }}_step_term) over cumulative
                    + 2 * sum({{ cause }}_weighted_step_term) over cumulative
        end as incidence_{{ cause }}_variance,
        {%- endfor %}
        end_of_data_assumption,
        segment_key,
        follow_up_day
    from variance_terms
    window cumulative as (
        partition by end_of_data_assumption, segment_key
        order by follow_up_day
        rows between unbounded preceding and current row
    )

),

-- the three CTEs are one row per assumption, segment and day: one-to-one; segments is one row
-- per segment (`overall` matches none): cannot fan out
estimates as (

    select
        at_risk.end_of_data_assumption,
        at_risk.end_of_data_assumption = 'earliest' as is_primary_assumption,
        at_risk.segment_key,
        coalesce(segment_labels.segment_name, 'All patients') as segment_name,
        at_risk.follow_up_day,
        cast(at_risk.patients_indexed as {{ dbt.type_bigint() }}) as num_patients_indexed,
        cast(at_risk.n_at_risk as {{ dbt.type_bigint() }}) as num_at_risk,
        cast(at_risk.n_returned as {{ dbt.type_bigint() }}) as num_returned,
        cast(at_risk.n_died as {{ dbt.type_bigint() }}) as num_died,
        cast(at_risk.n_censored as {{ dbt.type_bigint() }}) as num_censored,
        cast(at_risk.cumulative_returned as {{ dbt.type_bigint() }}) as num_returned_cumulative,
        cast(at_risk.cumulative_died as {{ dbt.type_bigint() }}) as num_died_cumulative,
        cast(at_risk.cumulative_censored as {{ dbt.type_bigint() }}) as num_censored_cumulative,
        {%- for cause in ['return', 'death'] %}
        variances.incidence_{{ cause }} as cumulative_incidence_{{ cause }},
        case
            when variances.incidence_{{ cause }}_variance >= 0
                then sqrt(variances.incidence_{{ cause }}_variance)
        end as cumulative_incidence_{{ cause }}_se,
        {%- endfor %}
        1 - survival.return_free_survival as km_return_probability_death_censored,
        survival.return_free_survival_se as km_return_probability_death_censored_se
    from at_risk
    inner join survival
        on
            at_risk.end_of_data_assumption = survival.end_of_data_assumption
            and at_risk.segment_key = survival.segment_key
            and at_risk.follow_up_day = survival.follow_up_day
    inner join variances
        on
            at_risk.end_of_data_assumption = variances.end_of_data_assumption
            and at_risk.segment_key = variances.segment_key
            and at_risk.follow_up_day = variances.follow_up_day
    left join segment_labels on at_risk.segment_key = segment_labels.segment_key

),

-- the 95 % intervals, on the log(-log) scale of each probability (docs block
-- `return_curve_confidence_interval`); 1 - KM's come from the interval of KM itself
intervals as (

    select
        end_of_data_assumption,
        is_primary_assumption,
        segment_key,
        segment_name,
        follow_up_day,
        num_patients_indexed,
        num_at_risk,
        num_returned,
        num_died,
        num_censored,
        num_returned_cumulative,
        num_died_cumulative,
        num_censored_cumulative,
        {%- for cause in ['return', 'death'] %}
        cumulative_incidence_{{ cause }},
        cumulative_incidence_{{ cause }}_se,
        {%- for side in ['lower', 'upper'] %}
        {{ loglog_confidence_bound(
            'cumulative_incidence_' ~ cause, 'cumulative_incidence_' ~ cause ~ '_se', side
        ) }} as cumulative_incidence_{{ cause }}_{{ side }},
        {%- endfor %}
        {%- endfor %}
        km_return_probability_death_censored,
        km_return_probability_death_censored_se,
        1 - {{ loglog_confidence_bound(
            '1 - km_return_probability_death_censored', 'km_return_probability_death_censored_se', 'upper'
        ) }} as km_return_probability_death_censored_lower,
        1 - {{ loglog_confidence_bound(
            '1 - km_return_probability_death_censored', 'km_return_probability_death_censored_se', 'lower'
        ) }} as km_return_probability_death_censored_upper
    from estimates

)

select * from intervals
