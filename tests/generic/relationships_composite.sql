{#-
    Referential integrity on a composite key: every combination of `columns` in the tested
    model (NULLs excepted) exists in `to` under the same column names. dbt's built-in
    `relationships` test only takes one column; ICD codes need two (version and code), and
    the check also catches a code whose leading zeros were lost on one side.
-#}
{% test relationships_composite(model, to, columns) %}

with

child as (
    select distinct {{ columns | join(', ') }}
    from {{ model }}
    where
        {%- for column in columns %}
        {{ column }} is not null{{ " and" if not loop.last }}
        {%- endfor %}
),

parent as (
    select distinct {{ columns | join(', ') }}
    from {{ to }}
)

select child.*
from child
left join parent
    on
    {%- for column in columns %}
    child.{{ column }} = parent.{{ column }}{{ " and" if not loop.last }}
    {%- endfor %}
where parent.{{ columns[0] }} is null

{% endtest %}
