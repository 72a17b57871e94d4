{#-
    Grain test: the tested model has exactly as many rows as `compare_model` (optionally
    filtered by `compare_where`). With `unique` on the key, this proves "every entity present
    exactly once", e.g. one patient_features row per patient in hosp.patients.
-#}
{% test row_count_matches(model, compare_model, compare_where='1 = 1') %}

with

model_rows as (
    select count(*) as row_count from {{ model }}
),

compare_rows as (
    select count(*) as row_count from {{ compare_model }} where {{ compare_where }}
)

select
    model_rows.row_count as model_row_count,
    compare_rows.row_count as compare_row_count
from model_rows
cross join compare_rows
where model_rows.row_count <> compare_rows.row_count

{% endtest %}
