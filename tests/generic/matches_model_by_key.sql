{#-
    Two models give the same answer for every key: the same set of keys, equal values in
    `exact_columns`, and `numeric_columns` within `tolerance`. Returns each disagreeing key
    with both sides' values (a key missing on one side shows NULLs there).

    Used to hold the SQL centroid scoring to the Python one, patient by patient.
-#}
{% test matches_model_by_key(model, compare_model, key_columns, exact_columns=[], numeric_columns=[], tolerance=0.000000001) %}

{%- set compared = exact_columns + numeric_columns -%}

with

model_rows as (
    select
        {{ (key_columns + compared) | join(', ') }},
        1 as present
    from {{ model }}
),

compare_rows as (
    select
        {{ (key_columns + compared) | join(', ') }},
        1 as present
    from {{ compare_model }}
)

select
    {%- for column in key_columns %}
    coalesce(model_rows.{{ column }}, compare_rows.{{ column }}) as {{ column }},
    {%- endfor %}
    {%- for column in compared %}
    model_rows.{{ column }} as model_{{ column }},
    compare_rows.{{ column }} as compare_{{ column }},
    {%- endfor %}
    model_rows.present as in_model,
    compare_rows.present as in_compare_model
from model_rows
full outer join compare_rows
    on
    {%- for column in key_columns %}
    model_rows.{{ column }} = compare_rows.{{ column }}{{ " and" if not loop.last }}
    {%- endfor %}
where
    model_rows.present is null
    or compare_rows.present is null
    {%- for column in exact_columns %}
    or model_rows.{{ column }} is distinct from compare_rows.{{ column }}
    {%- endfor %}
    {%- for column in numeric_columns %}
    or not coalesce(abs(model_rows.{{ column }} - compare_rows.{{ column }}) <= {{ tolerance }}, false)
    {%- endfor %}

{% endtest %}
