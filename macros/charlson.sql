{#-
    The 17 Charlson conditions, in the order of Quan et al. (2005), Table 1. The flag columns
    of the Charlson models are generated from this list, so it must name exactly the
    conditions of the `charlson_conditions` seed: the seed's accepted_values test and the
    singular test assert_charlson_conditions_match_macro check both directions.
-#}
{% macro charlson_condition_names() -%}
    {{ return([
        'myocardial_infarction',
        'congestive_heart_failure',
        'peripheral_vascular_disease',
        'cerebrovascular_disease',
        'dementia',
        'chronic_pulmonary_disease',
        'rheumatic_disease',
        'peptic_ulcer_disease',
        'mild_liver_disease',
        'diabetes_without_chronic_complication',
        'diabetes_with_chronic_complication',
        'hemiplegia_or_paraplegia',
        'renal_disease',
        'any_malignancy',
        'moderate_or_severe_liver_disease',
        'metastatic_solid_tumor',
        'aids_hiv',
    ]) }}
{%- endmacro %}


{#-
    Charlson age points for an age in whole years: <50: 0, 50-59: 1, 60-69: 2, 70-79: 3,
    >=80: 4. One point per decade of age, as in the combined age-comorbidity index of
    Charlson et al. (1994); the bands are those of MIT-LCP mimic-code's charlson concept.
    A NULL age gives NULL points.
-#}
{% macro charlson_age_points(age) -%}
    case
        when {{ age }} is null then null
        when {{ age }} < 50 then 0
        when {{ age }} < 60 then 1
        when {{ age }} < 70 then 2
        when {{ age }} < 80 then 3
        else 4
    end
{%- endmacro %}

