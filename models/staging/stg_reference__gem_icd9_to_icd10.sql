-- One row per entry of the CMS 2018 ICD-9-CM -> ICD-10-CM General Equivalence Mappings: the
-- ICD-10-CM target (NULL on a "no map" entry) and the GEM flags as booleans. An ICD-9-CM code
-- can have several targets; the same pair can appear twice (alone and in a combination).
with

source as (

    select
        icd9_code,
        icd10_code,
        is_approximate,
        is_no_map,
        is_combination,
        scenario,
        choice_list
    from {{ ref('gem_icd9_to_icd10') }}

),

renamed as (

    select
        upper(trim(cast(icd9_code as {{ dbt.type_string() }}))) as icd9_code,
        upper(trim(cast(icd10_code as {{ dbt.type_string() }}))) as icd10_code,
        is_approximate = 1 as is_approximate,
        is_no_map = 1 as is_no_map,
        is_combination = 1 as is_combination,
        cast(scenario as integer) as scenario,
        cast(choice_list as integer) as choice_list
    from source

)

select
    icd9_code,
    icd10_code,
    is_approximate,
    is_no_map,
    is_combination,
    scenario,
    choice_list
from renamed
