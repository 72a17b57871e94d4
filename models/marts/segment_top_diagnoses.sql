-- The most common diagnoses of each segment, by title: one row per segment and rank.
-- Prevalence counts patients, not diagnosis rows (a code coded in five admissions of one
-- patient counts once), and is set against the whole population's so that BI can tell a
-- segment's distinctive conditions from the ones every segment shares.
with

segments as (

    select
        subject_id,
        segment_key,
        segment_kind
    from {{ ref('patient_segments') }}

),

patient_diagnoses as (

    select
        subject_id,
        icd_version,
        icd_code
    from {{ ref('int_diagnoses_distinct_per_patient') }}

),

titles as (

    select
        icd_version,
        icd_code,
        long_title
    from {{ ref('stg_mimic__d_icd_diagnoses') }}

),

-- the CCSR categories each code reaches (one for ICD-10-CM, possibly several for ICD-9-CM):
-- the drill-down from segment_top_conditions to codes, joined to the top rows only
code_categories as (

    select
        icd_version,
        icd_code,
        {{ sorted_listagg('ccsr_category_code', "', '") }} as ccsr_category_codes
    from {{ ref('int_icd_codes_mapped_to_ccsr') }}
    group by
        icd_version,
        icd_code

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

-- patient x distinct code joined to patient x segment: one row per patient and code
segment_counts as (

    select
        segments.segment_key,
        segments.segment_kind,
        patient_diagnoses.icd_version,
        patient_diagnoses.icd_code,
        count(*) as num_patients
    from patient_diagnoses
    inner join segments on patient_diagnoses.subject_id = segments.subject_id
    group by
        segments.segment_key,
        segments.segment_kind,
        patient_diagnoses.icd_version,
        patient_diagnoses.icd_code

),

-- prevalence in the clustering population: the clustered segments' counts added up (each
-- patient is in one segment), so the diagnosis rows are joined and scanned once
population_counts as (

    select
        icd_version,
        icd_code,
        sum(num_patients) as num_population_patients_with_code
    from segment_counts
    where segment_kind = 'clustered'
    group by
        icd_version,
        icd_code

),

ranked as (

    select
        segment_key,
        icd_version,
        icd_code,
        num_patients,
        -- most patients first; ICD version then code break ties, for a stable order
        -- (cast: row_number() is a bigint on DuckDB and PostgreSQL, an int on Spark)
        cast(row_number() over (
            partition by segment_key
            order by num_patients desc, icd_version asc, icd_code asc
        ) as bigint) as diagnosis_rank
    from segment_counts

),

shares as (

    select
        ranked.segment_key,
        ranked.diagnosis_rank,
        ranked.icd_version,
        ranked.icd_code,
        -- titled after ranking: only the top rows need one (the dictionary is unique on
        -- version and code, a staging test, so this join cannot fan out)
        coalesce(titles.long_title, 'Unknown code') as long_title,
        -- one row per code (grouped above): no fan-out
        coalesce(code_categories.ccsr_category_codes, 'unmapped') as ccsr_category_codes,
        ranked.num_patients,
        cast(ranked.num_patients as {{ type_double() }})
        / segment_sizes.num_segment_patients as share_of_segment,
        cast(coalesce(population_counts.num_population_patients_with_code, 0) as {{ type_double() }})
        / population.num_population_patients as share_of_clustered_population
    from ranked
    inner join segment_sizes on ranked.segment_key = segment_sizes.segment_key
    -- a left join: a code only the rule-defined segment had would have no population row
    left join population_counts
        on
            ranked.icd_version = population_counts.icd_version
            and ranked.icd_code = population_counts.icd_code
    cross join population
    left join titles
        on
            ranked.icd_version = titles.icd_version
            and ranked.icd_code = titles.icd_code
    left join code_categories
        on
            ranked.icd_version = code_categories.icd_version
            and ranked.icd_code = code_categories.icd_code
    where ranked.diagnosis_rank <= {{ var('segment_top_diagnoses_limit') }}

)

select
    segment_key,
    diagnosis_rank,
    icd_version,
    icd_code,
    long_title,
    ccsr_category_codes,
    num_patients,
    share_of_segment,
    share_of_clustered_population,
    share_of_segment / nullif(share_of_clustered_population, 0) as prevalence_ratio
from shares
