{#-
    Reconciliation test: the sum of `column_name` over the tested model equals an aggregate
    over another model, to within `tolerance`.

    Use it to prove that a re-grain or a join neither lost nor multiplied rows, e.g. that the
    per-patient admission counts add up to the number of admissions:

        - column_sum_matches:
            compare_model: ref('stg_mimic__admissions')
            compare_expression: count(*)

    Fails with one row showing both totals when they differ (a fan-out makes the model's total
    larger; a dropped row makes it smaller).
-#}
{% test column_sum_matches(model, column_name, compare_model, compare_expression='count(*)', tolerance=0.000001) %}

with

model_total as (
    select coalesce(sum({{ column_name }}), 0) as total
    from {{ model }}
),

compare_total as (
    select coalesce({{ compare_expression }}, 0) as total
    from {{ compare_model }}
)

select
    model_total.total as model_total,
    compare_total.total as compare_total
from model_total
cross join compare_total
where abs(model_total.total - compare_total.total) > {{ tolerance }}

{% endtest %}
