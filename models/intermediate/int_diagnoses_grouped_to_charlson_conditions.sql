-- One row per admission and Charlson condition coded in it, from the code prefixes and
-- ranges of the charlson_icd_codes seed (Quan et al. 2005). See the `charlson_icd_codes`
-- docs block for the matching rule.
with

diagnoses as (

    select
        subject_id,
        hadm_id,
        icd_version,
        icd_code
    from {{ ref('int_diagnoses_distinct_per_admission') }}

),

code_rules as (

    select
        condition,
        icd_version,
        match_type,
        code_from,
        code_to
    from {{ ref('charlson_icd_codes') }}

),

conditions as (

    select
        condition,
        weight,
        hierarchy_group
    from {{ ref('charlson_conditions') }}

),

-- Match each distinct code once (a few thousand codes instead of every admission's).
distinct_codes as (

    select distinct
        icd_version,
        icd_code
    from diagnoses

),

-- A code matches a rule of its own ICD version: a prefix, or a range compared on the
-- code's first length(code_from) characters, so range 430-438 covers 4300 to 4389x.
-- One code can define several conditions (40403: heart failure and renal disease).
codes_matched as (

    select distinct
        distinct_codes.icd_version,
        distinct_codes.icd_code,
        code_rules.condition
    from distinct_codes
    inner join code_rules
        on
            distinct_codes.icd_version = code_rules.icd_version
            and (
                (
                    code_rules.match_type = 'prefix'
                    and substr(distinct_codes.icd_code, 1, length(code_rules.code_from))
                    = code_rules.code_from
                )
                or (
                    code_rules.match_type = 'range'
                    and substr(distinct_codes.icd_code, 1, length(code_rules.code_from))
                    between code_rules.code_from and code_rules.code_to
                )
            )

),

-- Several codes of one admission can define the same condition: keep it once.
admission_conditions as (

    select distinct
        diagnoses.subject_id,
        diagnoses.hadm_id,
        codes_matched.condition
    from diagnoses
    inner join codes_matched
        on
            diagnoses.icd_version = codes_matched.icd_version
            and diagnoses.icd_code = codes_matched.icd_code

),

-- conditions is unique on condition: many-to-one
weighted as (

    select
        admission_conditions.subject_id,
        admission_conditions.hadm_id,
        admission_conditions.condition,
        conditions.weight,
        conditions.hierarchy_group
    from admission_conditions
    inner join conditions on admission_conditions.condition = conditions.condition

)

select * from weighted
