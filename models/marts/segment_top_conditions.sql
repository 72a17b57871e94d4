-- The most common conditions of each segment: one row per segment and rank, a condition being
-- an AHRQ CCSR category (docs block ccsr_mapping), so that an ICD-9-CM and an ICD-10-CM code of
-- one condition count together. Computed as segment_top_diagnoses is, on the same patients
-- and feature window: prevalence counts patients (a patient with three codes of a category
-- counts once), set against the clustering population's, ties broken by category code, and the
-- same limit (var segment_top_diagnoses_limit). An ICD-9-CM code whose GEM targets fall in
-- several categories counts its patient in each. Codes that reach no category count together
-- as the category 'unmapped', which ranks like any other: it never vanishes.
with

segments as (

    select
        subject_id,
        segment_key,
        segment_kind
    from {{ ref('patient_segments') }}

),

patient_code_categories as (

    select
        subject_id,
        icd_version,
        icd_code,
        ccsr_category_code,
        body_system_code,
        mapping_method
    from {{ ref('int_diagnoses_mapped_to_ccsr') }}

),

titles as (

    select
        icd_version,
        icd_code,
        long_title
    from {{ ref('stg_mimic__d_icd_diagnoses') }}

),

body_systems as (

    select
        body_system_code,
        body_system_name
    from {{ ref('ccsr_body_systems') }}

),

segment_sizes as (

    select
        segment_key,
        count(*) as num_segment_patients
    from segments
    group by segment_key

),

population as (

    select count(*) as num_population_patients
    from segments
    where segment_kind = 'clustered'

),

-- patient x category: one row per patient and category, whatever the number of codes
patient_categories as (

    select
        subject_id,
        ccsr_category_code,
        body_system_code,
        max(case when mapping_method = 'icd9_gem' then 1 else 0 end) as has_icd9_code
    from patient_code_categories
    group by
        subject_id,
        ccsr_category_code,
        body_system_code

),

-- patient x category joined to patient x segment (both unique per patient and category)
segment_counts as (

    select
        segments.segment_key,
        segments.segment_kind,
        patient_categories.ccsr_category_code,
        patient_categories.body_system_code,
        count(*) as num_patients,
        sum(patient_categories.has_icd9_code) as num_patients_via_gem
    from patient_categories
    inner join segments on patient_categories.subject_id = segments.subject_id
    group by
        segments.segment_key,
        segments.segment_kind,
        patient_categories.ccsr_category_code,
        patient_categories.body_system_code

),

-- prevalence in the clustering population: the clustered segments' counts added up
population_counts as (

    select
        ccsr_category_code,
        sum(num_patients) as num_population_patients_with_category
    from segment_counts
    where segment_kind = 'clustered'
    group by ccsr_category_code

),

ranked as (

    select
        segment_key,
        ccsr_category_code,
        body_system_code,
        num_patients,
        num_patients_via_gem,
        -- most patients first; the category code breaks ties, for a stable order
        -- (cast: row_number() is a bigint on DuckDB and PostgreSQL, an int on Spark)
        cast(row_number() over (
            partition by segment_key
            order by num_patients desc, ccsr_category_code asc
        ) as bigint) as condition_rank
    from segment_counts

),

top_ranked as (

    select *
    from ranked
    where condition_rank <= {{ var('segment_top_diagnoses_limit') }}

),

-- drill-down for the kept rows only: the segment's codes in each category, in patients
segment_codes as (

    select
        segments.segment_key,
        patient_code_categories.ccsr_category_code,
        patient_code_categories.icd_version,
        patient_code_categories.icd_code,
        count(*) as num_patients_with_code
    from patient_code_categories
    inner join segments on patient_code_categories.subject_id = segments.subject_id
    inner join top_ranked
        on
            segments.segment_key = top_ranked.segment_key
            and patient_code_categories.ccsr_category_code = top_ranked.ccsr_category_code
    group by
        segments.segment_key,
        patient_code_categories.ccsr_category_code,
        patient_code_categories.icd_version,
        patient_code_categories.icd_code

),

code_summary as (

    select
        segment_key,
        ccsr_category_code,
        icd_version,
        icd_code,
        count(*) over (partition by segment_key, ccsr_category_code) as num_icd_codes,
        -- the category's most common code in the segment; ICD version then code break ties
        row_number() over (
            partition by segment_key, ccsr_category_code
            order by num_patients_with_code desc, icd_version asc, icd_code asc
        ) as code_rank
    from segment_codes

),

top_codes as (

    select
        segment_key,
        ccsr_category_code,
        icd_version,
        icd_code,
        num_icd_codes
    from code_summary
    where code_rank = 1

),

shares as (

    select
        top_ranked.segment_key,
        top_ranked.condition_rank,
        top_ranked.ccsr_category_code,
        top_ranked.body_system_code,
        coalesce(body_systems.body_system_name, 'Not mapped to a CCSR category') as body_system_name,
        top_codes.icd_version as top_icd_version,
        top_codes.icd_code as top_icd_code,
        -- the dictionary is unique on version and code (a staging test): no fan-out
        coalesce(titles.long_title, 'Unknown code') as top_diagnosis_name,
        cast(top_codes.num_icd_codes as bigint) as num_icd_codes,
        top_ranked.num_patients,
        cast(top_ranked.num_patients_via_gem as bigint) as num_patients_via_gem,
        cast(top_ranked.num_patients as {{ type_double() }})
        / segment_sizes.num_segment_patients as share_of_segment,
        cast(coalesce(population_counts.num_population_patients_with_category, 0) as {{ type_double() }})
        / population.num_population_patients as share_of_clustered_population
    from top_ranked
    inner join segment_sizes on top_ranked.segment_key = segment_sizes.segment_key
    inner join top_codes
        on
            top_ranked.segment_key = top_codes.segment_key
            and top_ranked.ccsr_category_code = top_codes.ccsr_category_code
    -- a left join: a category only the rule-defined segment had would have no population row
    left join population_counts on top_ranked.ccsr_category_code = population_counts.ccsr_category_code
    cross join population
    left join body_systems on top_ranked.body_system_code = body_systems.body_system_code
    left join titles
        on
            top_codes.icd_version = titles.icd_version
            and top_codes.icd_code = titles.icd_code

)

select
    segment_key,
    condition_rank,
    ccsr_category_code,
    body_system_code,
    body_system_name,
    top_icd_version,
    top_icd_code,
    top_diagnosis_name,
    num_icd_codes,
    num_patients,
    num_patients_via_gem,
    share_of_segment,
    share_of_clustered_population,
    share_of_segment / nullif(share_of_clustered_population, 0) as prevalence_ratio
from shares
