{#-
    The LACE index's rules (van Walraven et al., CMAJ 2010;182(6):551-557), each written once
    and read by int_index_discharges_scored_with_lace. The point tables are the paper's, as
    MDCalc, the R package cliot (lace_readmission_index) and Wang et al. (BMC Cardiovasc Disord
    2014;14:97, Table 1) all give them; docs blocks lace_index and lace_* in docs/lace.md. Each
    macro returns a parenthesized SQL expression that is NULL when its input is NULL. The
    Charlson weights are data (seed lace_charlson_weights), and whether an admission is acute
    is the seed encounter_classes' is_acute_admission.
-#}

{#- L: length of stay in calendar days, the discharge date minus the admission date (a stay
    that ends on the day it began is 0 days, LACE's "< 1 day"). Both dates of one patient. -#}
{% macro lace_length_of_stay_days(admitted_at, discharged_at) -%}
    ({{ dbt.datediff('cast(' ~ admitted_at ~ ' as date)', 'cast(' ~ discharged_at ~ ' as date)', 'day') }})
{%- endmacro %}


{#- L points: < 1 day 0, 1 day 1, 2 days 2, 3 days 3, 4-6 days 4, 7-13 days 5, >= 14 days 7. -#}
{% macro lace_length_of_stay_points(days) -%}
    (case
        when {{ days }} is null then null
        when {{ days }} < 1 then 0
        when {{ days }} <= 3 then {{ days }}
        when {{ days }} <= 6 then 4
        when {{ days }} <= 13 then 5
        else 7
    end)
{%- endmacro %}


{#- A points: 3 for an acute (unplanned) admission, else 0. -#}
{% macro lace_acuity_points(is_acute_admission) -%}
    (case
        when {{ is_acute_admission }} is null then null
        when {{ is_acute_admission }} then 3
        else 0
    end)
{%- endmacro %}


{#- C points: the LACE-weighted Charlson score as is from 0 to 3; 5 from 4 up. -#}
{% macro lace_comorbidity_points(lace_charlson_score) -%}
    (case
        when {{ lace_charlson_score }} is null then null
        when {{ lace_charlson_score }} >= 4 then 5
        else {{ lace_charlson_score }}
    end)
{%- endmacro %}


{#- E points: one per ED visit in the 6 months before the admission, at most 4. -#}
{% macro lace_ed_visit_points(ed_visits) -%}
    (case
        when {{ ed_visits }} is null then null
        when {{ ed_visits }} >= 4 then 4
        else {{ ed_visits }}
    end)
{%- endmacro %}


{#- The risk band of a LACE score (0-19): 0-4 low, 5-9 moderate, >= 10 high. The bands are
    the literature's usual ones (Wang et al. 2014, Table 1; cliot), not the CMAJ paper's. -#}
{% macro lace_risk_band(lace_score) -%}
    (case
        when {{ lace_score }} is null then null
        when {{ lace_score }} < 5 then 'low'
        when {{ lace_score }} < 10 then 'moderate'
        else 'high'
    end)
{%- endmacro %}



{#- The first (real) year of MIMIC-IV's emergency department records: its ED module,
    MIMIC-IV-ED, covers 2011-2019 (PhysioNet; MIT-LCP mimic-code issue 1666). Whether
    hosp.transfers records ED visits before it is not documented (docs block lace_mimic_limits). -#}
{% macro mimic_ed_records_first_year() -%}
    {{ return(2011) }}
{%- endmacro %}


{#- True when the 6 months before an admission may reach back before
    mimic_ed_records_first_year() in real time, so that LACE's E may miss ED visits. The real
    anchor year lies in the patient's 3-year anchor_year_group, so a date's real year is at
    least anchor_year_group_start + (its shifted year - anchor_year), to within a year. -#}
{% macro ed_history_possibly_incomplete(admitted_at, anchor_year, anchor_year_group_start) -%}
    ({{ anchor_year_group_start }}
        + extract(year from {{ dbt.dateadd('month', -6, admitted_at) }}) - {{ anchor_year }}
        < {{ mimic_ed_records_first_year() }})
{%- endmacro %}
