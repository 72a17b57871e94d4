{#-
    The outreach list's two vars as checked integers, read by the mart outreach_list only
    (docs block outreach_list).
-#}

{#- var `outreach_max_priority` (default 2): the list holds the patients whose segment's
    catalogue outreach_priority is at most this (1 = first). -#}
{% macro outreach_max_priority() -%}
    {%- set priority = var('outreach_max_priority') | int(-1) -%}
    {%- if priority < 1 or priority | string != var('outreach_max_priority') | string -%}
        {{ exceptions.raise_compiler_error("var outreach_max_priority must be a whole number >= 1 (an outreach_priority of seeds/personas/persona_catalogue.csv), got "
            ~ var('outreach_max_priority')) }}
    {%- endif -%}
    {{ return(priority) }}
{%- endmacro %}


{#- var `outreach_recent_days` (default 730): the list holds the patients whose last contact
    with the hospital, an admission or an ED visit, began at most this many days before the
    date their features are computed as of. -#}
{% macro outreach_recent_days() -%}
    {%- set days = var('outreach_recent_days') | int(-1) -%}
    {%- if days < 0 or days | string != var('outreach_recent_days') | string -%}
        {{ exceptions.raise_compiler_error("var outreach_recent_days must be a whole number of days >= 0, got "
            ~ var('outreach_recent_days')) }}
    {%- endif -%}
    {{ return(days) }}
{%- endmacro %}
