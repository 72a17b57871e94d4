{#-
    Opt-in quarantine (var `quarantine_row_defects: true`): admissions with a row-level defect,
    read straight from the source so that staging can leave them out. An admission is
    quarantined when its hospital stay is negative or longer than `dq_max_hospital_stay_days`,
    or one of its ICU stays is negative or longer than `dq_max_icu_stay_days`. Staging then drops
    the admission, its diagnoses and its ICU stays together (so no orphan is left), and
    data_quality_checks reports how many were quarantined, as a warning.
-#}
{{ config(enabled=var('quarantine_row_defects', false), schema='audit', materialized='table') }}

{%- set stays = [
    {'table': 'admissions', 'what': 'hospital stay', 'start': 'admittime', 'end': 'dischtime',
     'max_days': var('dq_max_hospital_stay_days')},
    {'table': 'icustays', 'what': 'ICU stay', 'start': 'intime', 'end': 'outtime',
     'max_days': var('dq_max_icu_stay_days')},
] -%}

with

defects as (
    {%- for stay in stays %}
    {%- set days -%}
        (cast(
            {{ dbt.datediff('cast(' ~ stay.start ~ ' as timestamp)', 'cast(' ~ stay.end ~ ' as timestamp)', 'second') }}
            as {{ type_double() }}
        ) / 86400)
    {%- endset %}

    select
        cast(subject_id as bigint) as subject_id,
        cast(hadm_id as bigint) as hadm_id,
        '{{ mimic_source_file(stay.table) | replace("'", "''") }}: {{ stay.what }} of '
        || {{ round_to(days, 1) }} || ' days' as reason
    from {{ mimic_table(stay.table) }}
    where {{ days }} < 0 or {{ days }} > {{ stay.max_days }}
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}

)

select
    hadm_id,
    min(subject_id) as subject_id,
    string_agg(reason, '; ' order by reason) as reasons
from defects
group by hadm_id
