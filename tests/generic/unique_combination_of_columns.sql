{#-
    Grain test for a composite key: no two rows share the same values of all
    `combination_of_columns`. Returns each duplicated key with how often it occurs.
-#}
{% test unique_combination_of_columns(model, combination_of_columns) %}

select
    {{ combination_of_columns | join(', ') }},
    count(*) as occurrences
from {{ model }}
group by {{ combination_of_columns | join(', ') }}
having count(*) > 1

{% endtest %}
