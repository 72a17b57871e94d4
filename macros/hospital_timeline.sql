{#-
    The rules of a patient's hospital timeline, written once and read by every model that walks
    it (int_admissions_grouped_to_episodes, int_episodes_flagged_for_readmission). Docs blocks
    hospital_episode and early_readmissions. Each macro returns a boolean or numeric SQL expression, parenthesized.
-#}

{#- var `episode_max_gap_hours` as a checked number: how long after the patient's latest
    discharge an admission may start and still continue that hospital episode (docs block
    hospital_episode). -#}
{% macro episode_max_gap_hours() -%}
    {%- set hours = var('episode_max_gap_hours') | float(-1) -%}
    {%- if hours < 0 -%}
        {{ exceptions.raise_compiler_error("var episode_max_gap_hours must be a number of hours >= 0, got "
            ~ var('episode_max_gap_hours')) }}
    {%- endif -%}
    {{ return(hours) }}
{%- endmacro %}


{#- An admission that starts before the patient's earlier stays have all ended, or within
    episode_max_gap_hours of the latest of their discharges (a transfer, a handoff between two
    records of one stay), continues their hospital episode; the first admission does not.
    Compared in seconds, so that a fraction of an hour works on every engine. -#}
{% macro continues_previous_stay(admitted_at, prior_latest_discharged_at) -%}
    (coalesce(
        {{ dbt.datediff(prior_latest_discharged_at, admitted_at, 'second') }}
        <= {{ (episode_max_gap_hours() * 3600) | round | int }},
        false
    ))
{%- endmacro %}


{#- Calendar days from a discharge to a later admission, as readmission windows are counted
    (both dates of the same patient: MIMIC shifts dates per patient). -#}
{% macro calendar_days_after_discharge(discharged_at, admitted_at) -%}
    {#- bigint on every engine (PostgreSQL's date difference is an integer), as contracts declare it #}
    cast({{ dbt.datediff('cast(' ~ discharged_at ~ ' as date)', 'cast(' ~ admitted_at ~ ' as date)', 'day') }} as {{ dbt.type_bigint() }})
{%- endmacro %}


{#- var `readmission_window_days` (default 30, the CMS window) as a checked integer: the one
    definition of an early readmission's window, read by int_episodes_flagged_for_readmission. -#}
{% macro readmission_window_days() %}
    {%- set days = var('readmission_window_days') | int(-1) -%}
    {%- if days < 1 -%}
        {{ exceptions.raise_compiler_error("var readmission_window_days must be a whole number of days >= 1, got " ~ var('readmission_window_days')) }}
    {%- endif -%}
    {{ return(days) }}
{% endmacro %}


{#- A counted episode is an early readmission when it starts at most readmission_window_days
    calendar days after the previous counted episode's discharge (day 30 of 30 is in, the next
    is not), that episode did not end in death, and it is not a planned readmission (docs block
    early_readmissions). False for a patient's first counted episode. -#}
{% macro is_early_readmission(days_since_previous_discharge, previous_ended_in_death, is_planned) -%}
    (coalesce(
        not {{ previous_ended_in_death }}
        and not {{ is_planned }}
        and {{ days_since_previous_discharge }} <= {{ readmission_window_days() }},
        false
    ))
{%- endmacro %}


{#- Whole seconds of the stay [start_at, end_at] that fall within the window
    [window_start_at, window_end_at]; 0 when they do not meet. An integer, so that a sum of
    them does not depend on the order rows reach it (days_from_seconds() after the sum). -#}
{% macro seconds_within_window(start_at, end_at, window_start_at, window_end_at) -%}
    (greatest(
        cast({{ dbt.datediff(
            'greatest(' ~ start_at ~ ', ' ~ window_start_at ~ ')',
            'least(' ~ end_at ~ ', ' ~ window_end_at ~ ')',
            'second'
        ) }} as {{ dbt.type_bigint() }}),
        0
    ))
{%- endmacro %}


{#- Fractional days from a number of seconds: divide once, after summing exact integers. A sum
    of fractional days (doubles) changes in its last bits with the order rows are added in,
    which on several threads changes from run to run; a sum of whole seconds does not. -#}
{% macro days_from_seconds(seconds) -%}
    (cast({{ seconds }} as {{ type_double() }}) / 86400)
{%- endmacro %}
