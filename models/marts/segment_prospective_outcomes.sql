-- Prospective validation of the segments (docs blocks prospective_validation and
-- prospective_comparison): per segment assigned at the index, per band of LACE at the index,
-- per segment and LACE band, and per group of the no-model baseline (admissions in the year
-- before the index), the next year's outcomes of the patients with follow-up: mean with a 95 %
-- confidence interval, lift over the population, and share of patients against share of the
-- outcome. Built in index mode only: without an index there is no future to measure.
{{ config(enabled=feature_index() is not none) }}
{%- set z = normal_quantile_95() %}
with

followed_up as (

    select
        subject_id,
        prior_year_admissions,
        admissions,
        bed_days,
        icu_days,
        early_readmissions,
        died,
        early_readmission_or_death,
        lace_risk_band_at_index
    from {{ ref('int_patients_followed_up_after_index') }}

),

segments as (

    select
        subject_id,
        segment_key,
        segment_name
    from {{ ref('patient_segments') }}

),

-- both unique on subject_id: one row per followed-up patient, with both of their groups
patients as (

    select
        followed_up.subject_id,
        segments.segment_key,
        segments.segment_name,
        case
            when followed_up.prior_year_admissions >= 3 then '3+'
            else cast(followed_up.prior_year_admissions as {{ dbt.type_string() }})
        end as prior_year_admissions_group,
        followed_up.admissions,
        followed_up.bed_days,
        followed_up.icu_days,
        -- a patient with no index discharge before the index has no LACE score: its own group
        coalesce(followed_up.lace_risk_band_at_index, 'none') as lace_band_group,
        {{ lace_band_group_label('followed_up.lace_risk_band_at_index') }} as lace_band_group_label,
        followed_up.early_readmissions,
        followed_up.died,
        followed_up.early_readmission_or_death
    from followed_up
    inner join segments on followed_up.subject_id = segments.subject_id

),

-- one row per patient and outcome, each patient in both groupings
outcomes_long as (

    {%- set outcomes = prospective_outcomes() %}
    {%- for group_type in prospective_groupings() %}
    {%- for outcome in outcomes %}
    select
        '{{ group_type }}' as group_type,
        {%- if group_type == 'segment' %}
        segment_key as group_key,
        segment_name as group_label,
        {%- elif group_type == 'lace_band' %}
        lace_band_group as group_key,
        lace_band_group_label as group_label,
        {%- elif group_type == 'segment_lace_band' %}
        segment_key || ':' || lace_band_group as group_key,
        segment_name || ', ' || lace_band_group_label as group_label,
        {%- else %}
        prior_year_admissions_group as group_key,
        prior_year_admissions_group || ' admission(s) in the prior year' as group_label,
        {%- endif %}
        '{{ outcome }}' as outcome,
        -- fixed point: sums of it do not depend on the order rows reach them (threads), so
        -- the same input gives the same output, digit for digit (as in segment_profiles)
        cast({{ outcome }} as {{ dbt.type_numeric() }}) as outcome_value
    from patients
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}

),

per_group_totals as (

    select
        group_type,
        group_key,
        group_label,
        outcome,
        count(*) as num_patients,
        {{ fixed_point_mean('outcome_value') }} as mean_outcome,
        sum(outcome_value) as outcome_total
    from outcomes_long
    group by group_type, group_key, group_label, outcome

),

-- the sample SD from squared deviations rounded to fixed point and summed exactly, rather
-- than stddev_samp, whose float accumulation depends on the row order; NULL below 2 patients
-- per_group_totals is unique on (group_type, group_key, outcome): many-to-one
per_group_spread as (

    select
        outcomes_long.group_type,
        outcomes_long.group_key,
        outcomes_long.outcome,
        sum(cast(
            (outcomes_long.outcome_value - per_group_totals.mean_outcome)
            * (outcomes_long.outcome_value - per_group_totals.mean_outcome)
            as {{ dbt.type_numeric() }}
        )) as sum_squared_deviations
    from outcomes_long
    inner join per_group_totals
        on
            outcomes_long.group_type = per_group_totals.group_type
            and outcomes_long.group_key = per_group_totals.group_key
            and outcomes_long.outcome = per_group_totals.outcome
    group by outcomes_long.group_type, outcomes_long.group_key, outcomes_long.outcome

),

-- one-to-one on (group_type, group_key, outcome)
per_group as (

    select
        per_group_totals.group_type,
        per_group_totals.group_key,
        per_group_totals.group_label,
        per_group_totals.outcome,
        per_group_totals.num_patients,
        per_group_totals.mean_outcome,
        sqrt(
            per_group_spread.sum_squared_deviations / nullif(per_group_totals.num_patients - 1, 0)
        ) as sd_outcome,
        per_group_totals.outcome_total
    from per_group_totals
    inner join per_group_spread
        on
            per_group_totals.group_type = per_group_spread.group_type
            and per_group_totals.group_key = per_group_spread.group_key
            and per_group_totals.outcome = per_group_spread.outcome

),

population as (

    select
        group_type,
        outcome,
        sum(num_patients) as population_patients,
        sum(outcome_total) as population_total
    from per_group
    group by group_type, outcome

),

-- population is unique on (group_type, outcome): many-to-one
stats as (

    select
        per_group.group_type,
        per_group.group_key,
        per_group.group_label,
        per_group.outcome,
        per_group.num_patients,
        cast(per_group.num_patients as {{ type_double() }}) / population.population_patients as share_of_patients,
        per_group.mean_outcome,
        per_group.sd_outcome,
        population.population_total / population.population_patients as population_mean,
        per_group.mean_outcome
        / nullif(population.population_total / population.population_patients, 0) as lift,
        per_group.outcome_total,
        per_group.outcome_total / nullif(population.population_total, 0) as share_of_outcome
    from per_group
    inner join population
        on
            per_group.group_type = population.group_type
            and per_group.outcome = population.outcome

),

-- 95 % intervals. Death is a proportion: the Wilson score interval, which stays within [0, 1]
-- and is not degenerate at 0 deaths (Wald's mean +/- z standard errors is both, with few
-- patients). Counts and days: the normal approximation, cut at 0, below which no count or
-- day can fall. No interval below 2 patients (no sample standard deviation).
intervals as (

    select
        group_type,
        group_key,
        group_label,
        outcome,
        num_patients,
        share_of_patients,
        mean_outcome,
        case
            when num_patients < 2 then null
            when outcome = 'died' then {{ wilson_bound('mean_outcome', 'num_patients', 'lower') }}
            else greatest(mean_outcome - {{ z }} * sd_outcome / sqrt(num_patients), 0)
        end as ci_lower,
        case
            when num_patients < 2 then null
            when outcome = 'died' then {{ wilson_bound('mean_outcome', 'num_patients', 'upper') }}
            else mean_outcome + {{ z }} * sd_outcome / sqrt(num_patients)
        end as ci_upper,
        population_mean,
        lift,
        outcome_total,
        share_of_outcome
    from stats

)

select
    cast(group_type as {{ dbt.type_string() }}) as group_type,
    cast(group_key as {{ dbt.type_string() }}) as group_key,
    cast(group_label as {{ dbt.type_string() }}) as group_label,
    cast(outcome as {{ dbt.type_string() }}) as outcome,
    cast(num_patients as {{ dbt.type_bigint() }}) as num_patients,
    cast(share_of_patients as {{ type_double() }}) as share_of_patients,
    cast(mean_outcome as {{ type_double() }}) as mean_outcome,
    cast(ci_lower as {{ type_double() }}) as ci_lower,
    cast(ci_upper as {{ type_double() }}) as ci_upper,
    cast(population_mean as {{ type_double() }}) as population_mean,
    cast(lift as {{ type_double() }}) as lift,
    cast(outcome_total as {{ type_double() }}) as outcome_total,
    cast(share_of_outcome as {{ type_double() }}) as share_of_outcome
from intervals
