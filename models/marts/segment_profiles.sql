{%- set profile = segment_profile_features() -%}
{%- set cells = segment_profile_cells() -%}
-- What each segment's patients look like, in long form: one row per segment, feature and
-- statistic (mean, median and z-score of every numeric feature; the rate of every yes/no
-- flag). A new feature or segment adds rows, not columns; segment_profiles_wide pivots it for
-- BI tools that want one row per segment.
--
-- Z-scores put a segment's mean on the scale of the clustering population (the admitted
-- patients K-Means was fitted on): (segment mean - population mean) / population SD. The
-- rule-defined segment is measured on the same scale, so its z-scores say how far it is from
-- the hospital population, not from the registry.
--
-- Means and variances are computed on fixed-point numbers: a sum of floats depends on the
-- order rows reach it (threads), and the same input must give the same output, digit for digit.
with

segments as (

    select
        subject_id,
        segment_key,
        segment_kind
    from {{ ref('patient_segments') }}

),

features as (

    select
        {%- for feature in profile.numeric + profile.flags %}
        {{ feature }},
        {%- endfor %}
        subject_id
    from {{ ref('patient_features') }}

),

-- Both inputs are at patient grain (tested unique), so this join is one-to-one.
segment_features as (

    select
        {%- for feature in profile.numeric %}
        cast(features.{{ feature }} as {{ dbt.type_numeric() }}) as {{ feature }},
        {%- endfor %}
        {%- for flag in profile.flags %}
        features.{{ flag }},
        {%- endfor %}
        segments.segment_key,
        segments.segment_kind
    from segments
    inner join features on segments.subject_id = features.subject_id

),

clustered_population as (

    select
        {%- for feature in profile.numeric %}
        {{ feature }},
        {%- endfor %}
        segment_key
    from segment_features
    where segment_kind = 'clustered'

),

population_means as (

    select
        {%- for feature in profile.numeric %}
        {{ fixed_point_mean(feature) }} as population_mean_{{ feature }},
        {%- endfor %}
        count(*) as num_population_patients
    from clustered_population

),

-- squared deviations from the population mean, rounded to fixed point
squared_deviations as (

    select
        {%- for feature in profile.numeric %}
        cast(
            (clustered_population.{{ feature }} - population_means.population_mean_{{ feature }})
            * (clustered_population.{{ feature }} - population_means.population_mean_{{ feature }})
            as {{ dbt.type_numeric() }}
        ) as squared_deviation_{{ feature }},
        {%- endfor %}
        population_means.num_population_patients
    from clustered_population
    cross join population_means

),

-- population variance as the mean squared deviation
population_spread as (

    select
        {%- for feature in profile.numeric %}
        -- NULL rather than a division by zero for a feature with no spread
        nullif(sqrt({{ fixed_point_mean('squared_deviation_' ~ feature) }}), 0)
            as population_sd_{{ feature }},
        {%- endfor %}
        num_population_patients
    from squared_deviations
    group by num_population_patients

),

per_segment as (

    select
        {%- for feature in profile.numeric %}
        {{ fixed_point_mean(feature) }} as mean_{{ feature }},
        -- the median in floating point: on a fixed-point input DuckDB returns the midpoint of
        -- two middle values at the input's scale (6 digits, cut), PostgreSQL and Spark in full
        percentile_cont(0.5) within group (
            order by cast({{ feature }} as {{ type_double() }})
        ) as median_{{ feature }},
        {%- endfor %}
        {%- for flag in profile.flags %}
        -- in floating point: a 1.0 literal is a decimal, whose average Spark cuts at 5 digits
        avg(case
            when {{ flag }} then cast(1 as {{ type_double() }})
            when not {{ flag }} then cast(0 as {{ type_double() }})
        end) as rate_{{ flag }},
        {%- endfor %}
        segment_key
    from segment_features
    group by segment_key

),

statistics as (

    select
        {%- for feature in profile.numeric %}
        per_segment.mean_{{ feature }},
        per_segment.median_{{ feature }},
        (
            per_segment.mean_{{ feature }} - population_means.population_mean_{{ feature }}
        ) / population_spread.population_sd_{{ feature }} as zscore_{{ feature }},
        {%- endfor %}
        {%- for flag in profile.flags %}
        per_segment.rate_{{ flag }},
        {%- endfor %}
        per_segment.segment_key
    from per_segment
    cross join population_means
    cross join population_spread

),

-- one row per segment, feature and statistic: one select per (feature, statistic) pair
unpivoted as (

    {%- for feature, statistic in cells %}
    {%- if not loop.first %}
    union all
    {%- endif %}
    select
        segment_key,
        '{{ feature }}' as feature_name,
        '{{ statistic }}' as statistic,
        cast({{ statistic }}_{{ feature }} as {{ type_double() }}) as statistic_value
    from statistics
    {%- endfor %}

)

select
    segment_key,
    feature_name,
    statistic,
    statistic_value
from unpivoted
-- a statistic that is undefined for a segment (e.g. the median days between admissions of a
-- segment of single admissions, or a z-score of a feature without spread) has no row, rather
-- than a NULL value
where statistic_value is not null
