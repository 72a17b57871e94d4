{#- var `feature_index` as a checked value: the one reader of the var (docs block feature_index).
    none (the default) computes every feature over each patient's whole history; 'first_year'
    computes them as of each patient's first admission + prospective_window_days. -#}
{% macro feature_index() %}
    {%- set index = var('feature_index', none) -%}
    {%- if index in (none, '', 'none', 'whole_history') -%}
        {{ return(none) }}
    {%- elif index == 'first_year' -%}
        {{ return(index) }}
    {%- endif -%}
    {{ exceptions.raise_compiler_error("var feature_index must be unset (whole history) or 'first_year', got " ~ index) }}
{% endmacro %}


{#- var `prospective_window_days` (default 365) as a checked integer: the length of the first
    year that defines the 'first_year' index, of the follow-up a patient needs after the index,
    and of the outcome window (index, index + days]. -#}
{% macro prospective_window_days() %}
    {%- set days = var('prospective_window_days') | int(-1) -%}
    {%- if days < 1 -%}
        {{ exceptions.raise_compiler_error("var prospective_window_days must be a whole number of days >= 1, got " ~ var('prospective_window_days')) }}
    {%- endif -%}
    {{ return(days) }}
{% endmacro %}
