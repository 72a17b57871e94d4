{%- set cells = segment_profile_cells() -%}
{{ config(post_hook="{{ comment_generated_columns() }}") }}
-- segment_profiles pivoted for BI tools that want one row per segment: the columns of
-- `segments`, then one column per feature and statistic, named <statistic>_<feature>
-- (mean_num_admissions, zscore_total_icu_days, rate_in_hospital_death, ...). Generated from
-- the same feature list as segment_profiles (macro segment_profile_features), so a new feature
-- adds its columns here without a line of SQL or YAML.
with

segments as (

    select
        segment_key,
        segment_kind,
        cluster_id,
        segment_name,
        catalogue_persona_name,
        care_management_action,
        outreach_priority,
        num_patients,
        share_of_registry,
        share_of_clustered_population,
        naming_rule,
        persona_match_score,
        runner_up_persona_name,
        persona_match_margin,
        is_weak_persona_match,
        early_readmission_rate,
        top_diagnoses
    from {{ ref('segments') }}

),

profiles as (

    select
        segment_key,
        feature_name,
        statistic,
        statistic_value
    from {{ ref('segment_profiles') }}

),

-- unique on (segment_key, feature_name, statistic) (tested): each cell takes one row
pivoted as (

    select
        {%- for feature, statistic in cells %}
        max(
            case
                when feature_name = '{{ feature }}' and statistic = '{{ statistic }}'
                    then statistic_value
            end
        ) as {{ statistic }}_{{ feature }},
        {%- endfor %}
        segment_key
    from profiles
    group by segment_key

)

select
    {%- for feature, statistic in cells %}
    pivoted.{{ statistic }}_{{ feature }},
    {%- endfor %}
    segments.segment_key,
    segments.segment_kind,
    segments.cluster_id,
    segments.segment_name,
    segments.catalogue_persona_name,
    segments.care_management_action,
    segments.outreach_priority,
    segments.num_patients,
    segments.share_of_registry,
    segments.share_of_clustered_population,
    segments.naming_rule,
    segments.persona_match_score,
    segments.runner_up_persona_name,
    segments.persona_match_margin,
    segments.is_weak_persona_match,
    segments.early_readmission_rate,
    segments.top_diagnoses
from segments
left join pivoted on segments.segment_key = pivoted.segment_key
