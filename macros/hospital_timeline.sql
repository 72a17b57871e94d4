{#-
    The rules of a patient's hospital timeline, written once and read by every model that walks
    it: the feature pipeline (int_admissions_grouped_to_episodes, int_episodes_flagged_for_readmission)
    and the prospective outcomes (int_patients_followed_up_after_index), which walk the whole
    release where the features see only the feature window. Docs blocks hospital_episode and
    early_readmissions. Each macro returns a boolean or numeric SQL expression, parenthesized.
-#}

{#- An admission that starts before the patient's earlier stays have all ended overlaps them
    (a transfer or a recording artefact) and joins their episode; the first admission does not. -#}
{% macro is_overlapping_stay(admitted_at, prior_latest_discharged_at) -%}
    (coalesce({{ admitted_at }} < {{ prior_latest_discharged_at }}, false))
{%- endmacro %}


{#- Calendar days from a discharge to a later admission, as readmission windows are counted
    (both dates of the same patient: MIMIC shifts dates per patient). -#}
{% macro calendar_days_after_discharge(discharged_at, admitted_at) -%}
    ({{ dbt.datediff('cast(' ~ discharged_at ~ ' as date)', 'cast(' ~ admitted_at ~ ' as date)', 'day') }})
{%- endmacro %}


{#- A new episode is an early readmission when it starts at most readmission_window_days
    calendar days after the previous episode's discharge (day 30 of 30 is in, the next is not)
    and that episode did not end in death. False for a patient's first episode. -#}
{% macro is_early_readmission(days_since_previous_discharge, previous_ended_in_death) -%}
    (coalesce(
        not {{ previous_ended_in_death }}
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
