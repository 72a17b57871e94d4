{#-
    The prospective comparison (docs block prospective_comparison): which groupings and which
    outcomes segment_prospective_outcomes compares, and the ordinal score each grouping ranks
    patients by, from which mimic_segments.reporting.discrimination computes its C-statistic.
    Written once here, read by segment_prospective_outcomes and patient_prospective_scores.
-#}

{#- The groupings compared, in reading order. -#}
{% macro prospective_groupings() -%}
    {{ return(['segment', 'lace_band', 'segment_lace_band', 'prior_year_admissions']) }}
{%- endmacro %}


{#- The next-year outcomes (columns of int_patients_followed_up_after_index), in reading order. -#}
{% macro prospective_outcomes() -%}
    {{ return(['admissions', 'bed_days', 'icu_days', 'early_readmissions', 'died', 'early_readmission_or_death']) }}
{%- endmacro %}


{#- The label of a LACE band group: the band with its score range, or, for a patient with no
    index discharge by the index (band NULL), that there is no score. -#}
{% macro lace_band_group_label(lace_risk_band) -%}
    (case {{ lace_risk_band }}
        when 'low' then 'LACE low (0-4)'
        when 'moderate' then 'LACE moderate (5-9)'
        when 'high' then 'LACE high (10+)'
        else 'no LACE score (no index discharge by the index)'
    end)
{%- endmacro %}


{#- A grouping's ordinal score: the patient's rank by what the grouping knows at the index,
    higher = predicted worse, fitted to no outcome (docs block prospective_comparison).
      segment                the segment's catalogue outreach priority (1 first): - priority
      lace_band              the LACE total the bands cut (0-19); no score ranks lowest, -1
      segment_lace_band      priority first, LACE total within it: - 21 * priority + LACE (or -1),
                             21 being the number of LACE values with -1, so priority dominates
      prior_year_admissions  the count of admissions in the year before the index -#}
{% macro prospective_ordinal_score(grouping, outreach_priority, lace_score, prior_year_admissions) -%}
    {%- if grouping == 'segment' -%}
    (- {{ outreach_priority }})
    {%- elif grouping == 'lace_band' -%}
    (coalesce({{ lace_score }}, -1))
    {%- elif grouping == 'segment_lace_band' -%}
    (- 21 * {{ outreach_priority }} + coalesce({{ lace_score }}, -1))
    {%- elif grouping == 'prior_year_admissions' -%}
    ({{ prior_year_admissions }})
    {%- else -%}
    {{ exceptions.raise_compiler_error("prospective_ordinal_score: unknown grouping " ~ grouping) }}
    {%- endif -%}
{%- endmacro %}
