{#-
    The tested model has between `min_value` and `max_value` rows (inclusive). With dbt's
    `where` test config it counts only the matching rows: e.g. exactly one chosen k is
    `min_value: 1, max_value: 1` with `config: {where: is_chosen}`.
-#}
{% test row_count_between(model, min_value, max_value) %}

with

counted as (
    select count(*) as row_count
    from {{ model }}
)

select row_count
from counted
where row_count < {{ min_value }} or row_count > {{ max_value }}

{% endtest %}
