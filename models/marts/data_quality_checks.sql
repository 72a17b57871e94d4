{#-
    Volume and plausibility checks of the source tables, one row per check, each with a
    severity. Errors fail the test `data_quality_errors` (so nothing is published); warnings
    fail `data_quality_warnings` at warn severity and stay here for whoever reads the build.
    Volumes are ratios that hold from the 100-patient demo to the full release; thresholds are
    vars (dbt_project.yml, `dq_*`); see the docs block `data_quality_checks`.
-#}

{%- set tables = mimic_tables().keys() | list -%}
{%- set double = type_double() | trim -%}
{%- set string = dbt.type_string() -%}

{#- An empty core table (a file holding only its header) is an error. -#}
{%- set volume_checks = [] -%}
{%- for table in tables -%}
{%- do volume_checks.append({'name': table ~ '_not_empty', 'severity': 'error', 'table': table,
    'observed': table, 'min': 1, 'max': none, 'description': table ~ ' has at least one row'}) -%}
{%- endfor -%}

{%- do volume_checks.extend([
    {'name': 'diagnoses_per_admission_not_near_zero', 'severity': 'error', 'table': 'diagnoses_icd',
     'observed': 'cast(diagnoses_icd as ' ~ double ~ ') / nullif(admissions, 0)',
     'min': var('dq_min_diagnoses_per_admission'), 'max': none,
     'description': 'billed diagnoses per admission: near zero means a truncated diagnoses file'},
    {'name': 'diagnoses_per_admission_typical', 'severity': 'warn', 'table': 'diagnoses_icd',
     'observed': 'cast(diagnoses_icd as ' ~ double ~ ') / nullif(admissions, 0)',
     'min': var('dq_diagnoses_per_admission')[0], 'max': var('dq_diagnoses_per_admission')[1],
     'description': 'billed diagnoses per admission (demo 16.4, release 3.1 11.7)'},
    {'name': 'admissions_per_patient_typical', 'severity': 'warn', 'table': 'admissions',
     'observed': 'cast(admissions as ' ~ double ~ ') / nullif(patients, 0)',
     'min': var('dq_admissions_per_patient')[0], 'max': var('dq_admissions_per_patient')[1],
     'description': 'admissions per registry patient (demo 2.75, release 3.1 1.50)'},
    {'name': 'icustays_per_admission_typical', 'severity': 'warn', 'table': 'icustays',
     'observed': 'cast(icustays as ' ~ double ~ ') / nullif(admissions, 0)',
     'min': var('dq_icustays_per_admission')[0], 'max': var('dq_icustays_per_admission')[1],
     'description': 'ICU stays per admission (demo 0.51, release 3.1 0.17)'},
    {'name': 'share_of_patients_admitted_typical', 'severity': 'warn', 'table': 'patients',
     'observed': 'cast(patients_with_admissions as ' ~ double ~ ') / nullif(patients, 0)',
     'min': var('dq_share_of_patients_admitted')[0], 'max': var('dq_share_of_patients_admitted')[1],
     'description': 'share of registry patients with an admission (demo 1.00, release 3.1 0.61: '
        ~ 'registry patients without admissions are normal)'},
]) -%}

{#- Durations: beyond physical plausibility an error, beyond the usual a warning. -#}
{%- set row_checks = [] -%}
{%- for stay in [
    {'name': 'hospital_stay', 'what': 'hospital stay', 'model': 'stg_mimic__admissions', 'table': 'admissions',
     'column': 'length_of_stay_days', 'key': 'hadm_id',
     'error_above': var('dq_max_hospital_stay_days'), 'warn_above': var('dq_warn_hospital_stay_days')},
    {'name': 'icu_stay', 'what': 'ICU stay', 'model': 'stg_mimic__icustays', 'table': 'icustays',
     'column': 'icu_length_of_stay_days', 'key': 'stay_id',
     'error_above': var('dq_max_icu_stay_days'), 'warn_above': var('dq_warn_icu_stay_days')},
] -%}
{%- set error = stay.copy() -%}
{%- do error.update({'name': stay.name ~ '_is_physically_possible', 'severity': 'error',
    'max': stay.error_above,
    'description': stay.what ~ 's longer than this are date errors, not patients'}) -%}
{%- set warning = stay.copy() -%}
{%- do warning.update({'name': stay.name ~ '_is_usual', 'severity': 'warn', 'max': stay.warn_above,
    'description': stay.what ~ 's this long are rare: worth a look'}) -%}
{%- do row_checks.extend([error, warning]) -%}
{%- endfor -%}
{%- do row_checks.append(
    {'name': 'age_at_admission_is_physically_possible', 'severity': 'error',
     'model': 'int_admissions_sequenced', 'table': 'admissions', 'column': 'age_at_admission',
     'key': 'hadm_id', 'min': 0, 'max': var('dq_max_age_years'),
     'description': 'age at admission (anchor_age + admission year - anchor_year) below zero or above a human lifespan'}
) -%}

{#- Stored derived columns against the columns they are derived from (docs block
    derived_columns): the size of the disagreement is the value checked. -#}
{%- set los_disagreement = 'abs(recorded_icu_length_of_stay_days - icu_length_of_stay_days) * 86400' -%}
{%- for severity, above, what in [
    ('warn', 1, 'more than a second (the resolution of MIMIC timestamps)'),
    ('error', var('dq_max_derived_disagreement_seconds'), 'more than dq_max_derived_disagreement_seconds'),
] -%}
{%- do row_checks.append(
    {'name': 'icu_los_agrees_with_timestamps' if severity == 'warn' else 'icu_los_within_tolerance_of_timestamps',
     'kind': 'consistency', 'severity': severity, 'model': 'stg_mimic__icustays', 'table': 'icustays',
     'column': 'recorded_icu_length_of_stay_days', 'value': los_disagreement, 'key': 'stay_id', 'max': above,
     'description': 'seconds between the stored los and outtime - intime: ' ~ what}
) -%}
{%- endfor -%}
{%- do row_checks.append(
    {'name': 'hospital_expire_flag_agrees_with_deathtime', 'kind': 'consistency', 'severity': 'warn',
     'model': 'stg_mimic__admissions', 'table': 'admissions', 'column': 'is_hospital_death',
     'value': 'case when coalesce(is_hospital_death, false) = (died_at is not null) then 0 else 1 end',
     'key': 'hadm_id', 'max': 0,
     'description': 'hospital_expire_flag against deathtime: 1 where one says the patient died in hospital and the other not'}
) -%}


with

counts as (

    select
        {%- for table in tables %}
        (select count(*) from {{ ref('stg_mimic__' ~ table) }}) as {{ table }},
        {%- endfor %}
        (
            select count(distinct subject_id) from {{ ref('stg_mimic__admissions') }}
        ) as patients_with_admissions

),

volume_checks as (
    {%- for check in volume_checks %}
    select
        '{{ check.name }}' as check_name,
        'volume' as check_kind,
        '{{ check.severity }}' as severity,
        'stg_mimic__{{ check.table }}' as model_name,
        '{{ mimic_source_file(check.table) | replace("'", "''") }}' as source_file,
        cast(null as {{ string }}) as column_name,
        cast({{ check.observed }} as {{ double }}) as observed_value,
        cast({{ 'null' if check.min is none else check.min }} as {{ double }}) as min_allowed,
        cast({{ 'null' if check.max is none else check.max }} as {{ double }}) as max_allowed,
        cast(null as bigint) as failing_rows,
        cast(null as {{ string }}) as first_failing_keys,
        cast(null as {{ string }}) as failing_rows_query,
        '{{ check.description }}' as description
    from counts
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
),

row_checks as (
    {%- for check in row_checks %}
    {%- set relation = ref(check.model) -%}
    {#- the value checked: the column itself, or an expression over the row (`value`) -#}
    {%- set value = check.value if check.value is defined else check.column -%}
    {%- set failing = value ~ ' > ' ~ check.max
        ~ ((' or ' ~ value ~ ' < ' ~ check.min) if check.min is defined else '') %}
    select
        '{{ check.name }}' as check_name,
        '{{ check.kind if check.kind is defined else 'plausibility' }}' as check_kind,
        '{{ check.severity }}' as severity,
        '{{ check.model }}' as model_name,
        '{{ mimic_source_file(check.table) | replace("'", "''") }}' as source_file,
        '{{ check.column }}' as column_name,
        cast(max({{ value }}) as {{ double }}) as observed_value,
        cast({{ check.min if check.min is defined else 'null' }} as {{ double }}) as min_allowed,
        cast({{ check.max }} as {{ double }}) as max_allowed,
        count(case when {{ failing }} then 1 end) as failing_rows,
        {%- set key_label = "'" ~ check.key ~ "=' || cast(" ~ check.key ~ " as " ~ string ~ ")" %}
        {{ first_keys(key_label, check.key, failing, 5) }} as first_failing_keys,
        'select * from {{ relation.include(database=false) }} where {{ failing }}' as failing_rows_query,
        '{{ check.description }}' as description
    from {{ relation }}
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
),

all_checks as (

    -- the CTEs list their columns in one order: a plain union all, which every engine has
    select * from volume_checks
    union all
    select * from row_checks
    {%- if var('quarantine_row_defects', false) %}
    {%- set quarantine = ref('stg_mimic__quarantined_admissions') %}
    union all
    -- opt-in quarantine: the admissions left out of this build, a warning
    select
        'admissions_quarantined' as check_name,
        'quarantine' as check_kind,
        'warn' as severity,
        'stg_mimic__quarantined_admissions' as model_name,
        '{{ mimic_source_file("admissions") | replace("'", "''") }}' as source_file,
        'hadm_id' as column_name,
        cast(count(*) as {{ double }}) as observed_value,
        cast(null as {{ double }}) as min_allowed,
        cast(0 as {{ double }}) as max_allowed,
        count(*) as failing_rows,
        {{ first_keys("'hadm_id=' || cast(hadm_id as " ~ string ~ ")", 'hadm_id', 'true', 5) }}
            as first_failing_keys,
        'select * from {{ quarantine.include(database=false) }}' as failing_rows_query,
        'admissions left out with their diagnoses and ICU stays (quarantine_row_defects)' as description
    from {{ quarantine }}
    {%- endif %}

)

select
    check_name,
    check_kind,
    severity,
    model_name,
    source_file,
    column_name,
    observed_value,
    min_allowed as min_allowed_value,
    max_allowed as max_allowed_value,
    failing_rows as num_failing_rows,
    first_failing_keys,
    failing_rows_query as failing_rows_sql,
    description,
    case
        when check_kind in ('plausibility', 'consistency') then failing_rows = 0
        else
            observed_value is not null
            and (min_allowed is null or observed_value >= min_allowed)
            and (max_allowed is null or observed_value <= max_allowed)
    end as has_passed
from all_checks
