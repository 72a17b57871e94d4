{#-
    Reconciliation test: the sum of `column_name` over the tested model equals an aggregate
    over another model, to within `tolerance` + `relative_tolerance` times the larger of the
    two totals (in absolute value).

    Use it to prove that a re-grain or a join neither lost nor multiplied rows, e.g. that the
    per-patient admission counts add up to the number of admissions:

        - column_sum_matches:
            compare_model: ref('stg_mimic__admissions')
            compare_expression: count(*)

    Defaults: tolerance 1e-6 (absolute), relative_tolerance 1e-9. Integer sums are exact, so
    neither matters for counts; a sum of doubles depends on the order it was added in (a
    database sums in parallel, in whatever order its threads finish), and the difference grows
    with the total: two sums of about 3.8e7 days differ by about 1e-6 at 3.6 million patients
    (relative 2e-14). The relative tolerance absorbs that rounding at any size and stays
    below one row's weight: at that size, 1e-9 of 3.8e7 days is 0.04 days (an hour), so a
    lost or doubled admission of an hour or more still fails.

    Fails with one row showing both totals when they differ (a fan-out makes the model's total
    larger; a dropped row makes it smaller).
-#}
{% test column_sum_matches(model, column_name, compare_model, compare_expression='count(*)', tolerance=0.000001, relative_tolerance=0.000000001) %}

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
where abs(model_total.total - compare_total.total)
    > {{ tolerance }} + {{ relative_tolerance }}
    * (case
        when abs(model_total.total) > abs(compare_total.total) then abs(model_total.total)
        else abs(compare_total.total)
    end)

{% endtest %}
