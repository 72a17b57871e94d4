{#-
    A share column sums to 1 (within `tolerance`) over the whole model, or within each group
    of `group_by` columns. Returns each group whose shares do not add up, with its total.
    A fan-out or a lost row in the model moves the total away from 1.
-#}
{% test shares_sum_to_one(model, column_name, group_by=[], tolerance=0.000001) %}

select
    {%- for column in group_by %}
    {{ column }},
    {%- endfor %}
    sum({{ column_name }}) as total_share
from {{ model }}
{%- if group_by %}
group by {{ group_by | join(', ') }}
{%- endif %}
having abs(sum({{ column_name }}) - 1) > {{ tolerance }}

{% endtest %}
