-- The prospective comparison per patient (docs block prospective_comparison): one row per
-- patient followed up after their index, with what each grouping knew at the index (segment
-- and its outreach priority, LACE at the index and its band, prior-year admissions), each
-- grouping's ordinal score (macro prospective_ordinal_score), and the next year's outcomes.
-- The C-statistics of segment_prospective_comparison are computed from it, and a BI tool can
-- recompute them. Built in index mode only.
{{ config(enabled=feature_index() is not none) }}
with

followed_up as (

    select
        subject_id,
        index_at,
        prior_year_admissions,
        lace_score_at_index,
        lace_risk_band_at_index,
        admissions,
        bed_days,
        icu_days,
        early_readmissions,
        died,
        early_readmission_or_death
    from {{ ref('int_patients_followed_up_after_index') }}

),

segments as (

    select
        subject_id,
        segment_key,
        segment_name,
        outreach_priority
    from {{ ref('patient_segments') }}

),

-- both unique on subject_id: one row per followed-up patient
patients as (

    select
        followed_up.subject_id,
        followed_up.index_at,
        segments.segment_key,
        segments.segment_name,
        segments.outreach_priority,
        followed_up.lace_score_at_index,
        followed_up.lace_risk_band_at_index,
        followed_up.prior_year_admissions,
        followed_up.admissions,
        followed_up.bed_days,
        followed_up.icu_days,
        followed_up.early_readmissions,
        followed_up.died,
        followed_up.early_readmission_or_death
    from followed_up
    inner join segments on followed_up.subject_id = segments.subject_id

)

select
    subject_id,
    index_at,
    segment_key,
    segment_name,
    cast(outreach_priority as {{ dbt.type_bigint() }}) as outreach_priority,
    cast(lace_score_at_index as {{ dbt.type_bigint() }}) as lace_score_at_index,
    lace_risk_band_at_index,
    cast(prior_year_admissions as {{ dbt.type_bigint() }}) as prior_year_admissions,
    {%- for grouping in prospective_groupings() %}
    cast({{ prospective_ordinal_score(
        grouping, 'outreach_priority', 'lace_score_at_index', 'prior_year_admissions'
    ) }} as {{ dbt.type_bigint() }}) as ordinal_score_{{ grouping }},
    {%- endfor %}
    cast(admissions as {{ dbt.type_bigint() }}) as admissions,
    cast(bed_days as {{ type_double() }}) as bed_days,
    cast(icu_days as {{ type_double() }}) as icu_days,
    cast(early_readmissions as {{ dbt.type_bigint() }}) as early_readmissions,
    cast(died as {{ dbt.type_bigint() }}) as died,
    cast(early_readmission_or_death as {{ dbt.type_bigint() }}) as early_readmission_or_death
from patients
