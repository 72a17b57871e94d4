-- One row per diagnosis code of the MIMIC-IV dictionary and AHRQ CCSR category the code reaches
-- (docs block ccsr_mapping). ICD-10-CM codes take their CCSR category directly; ICD-9-CM codes
-- go through every ICD-10-CM target the CMS GEM lists for them, and reach each distinct
-- category of those targets, with flags for approximate and combination entries. A code that
-- reaches none keeps one row, category 'unmapped', and the reason in mapping_method: no code
-- of the dictionary vanishes (tested). Every diagnosis code is in the dictionary (tested in
-- staging), so this maps every diagnosis.
with

codes as (

    select
        icd_version,
        icd_code
    from {{ ref('stg_mimic__d_icd_diagnoses') }}

),

ccsr as (

    select
        icd10_code,
        ccsr_category_code,
        body_system_code
    from {{ ref('stg_reference__ccsr_icd10_categories') }}

),

gem as (

    select
        icd9_code,
        icd10_code,
        is_approximate,
        is_combination
    from {{ ref('stg_reference__gem_icd9_to_icd10') }}

),

-- one row per ICD-9-CM code of the GEM: how many targets it has (0: "no map" only)
gem_codes as (

    select
        icd9_code,
        count(icd10_code) as num_gem_targets
    from gem
    group by icd9_code

),

-- the CCSR is unique on icd10_code (tested): one row per ICD-10-CM code it lists
icd10_direct as (

    select
        codes.icd_version,
        codes.icd_code,
        ccsr.ccsr_category_code,
        ccsr.body_system_code,
        'icd10_direct' as mapping_method,
        1 as num_icd10_codes,
        false as is_approximate_mapping,
        false as is_combination_mapping
    from codes
    inner join ccsr on codes.icd_code = ccsr.icd10_code
    where codes.icd_version = 10

),

-- ICD-9-CM code x GEM entry x the target's category, re-grained to code x category: a
-- category reached by several targets (or by one pair listed twice) is one row
icd9_via_gem as (

    select
        codes.icd_version,
        codes.icd_code,
        ccsr.ccsr_category_code,
        ccsr.body_system_code,
        'icd9_gem' as mapping_method,
        count(distinct gem.icd10_code) as num_icd10_codes,
        max(case when gem.is_approximate then 1 else 0 end) = 1 as is_approximate_mapping,
        max(case when gem.is_combination then 1 else 0 end) = 1 as is_combination_mapping
    from codes
    inner join gem on codes.icd_code = gem.icd9_code
    inner join ccsr on gem.icd10_code = ccsr.icd10_code
    where codes.icd_version = 9
    group by
        codes.icd_version,
        codes.icd_code,
        ccsr.ccsr_category_code,
        ccsr.body_system_code

),

mapped as (

    select * from icd10_direct
    union all
    select * from icd9_via_gem

),

mapped_codes as (

    select distinct
        icd_version,
        icd_code
    from mapped

),

-- the codes that reach no category, with the reason
unmapped as (

    select
        codes.icd_version,
        codes.icd_code,
        'unmapped' as ccsr_category_code,
        'unmapped' as body_system_code,
        case
            when codes.icd_version = 10 then 'icd10_not_in_ccsr'
            when gem_codes.icd9_code is null then 'icd9_not_in_gem'
            when gem_codes.num_gem_targets = 0 then 'icd9_gem_no_map'
            else 'icd9_gem_targets_not_in_ccsr'
        end as mapping_method,
        0 as num_icd10_codes,
        false as is_approximate_mapping,
        false as is_combination_mapping
    from codes
    left join mapped_codes
        on
            codes.icd_version = mapped_codes.icd_version
            and codes.icd_code = mapped_codes.icd_code
    left join gem_codes
        on
            codes.icd_version = 9
            and codes.icd_code = gem_codes.icd9_code
    where mapped_codes.icd_code is null

),

all_rows as (

    select * from mapped
    union all
    select * from unmapped

)

select
    icd_version,
    icd_code,
    ccsr_category_code,
    body_system_code,
    mapping_method,
    cast(num_icd10_codes as bigint) as num_icd10_codes,
    is_approximate_mapping,
    is_combination_mapping,
    -- how many categories the code reaches (1 for every ICD-10-CM code and unmapped code)
    cast(count(*) over (partition by icd_version, icd_code) as bigint) as num_code_categories,
    -- 1 on the code's first category (by category code): counting these counts codes once
    cast(row_number() over (
        partition by icd_version, icd_code
        order by ccsr_category_code
    ) as bigint) as category_sequence
from all_rows
