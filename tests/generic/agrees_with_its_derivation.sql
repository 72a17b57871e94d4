{#-
    A stored derived column against the columns it is derived from (docs block
    derived_columns): returns the rows whose `disagreement` (a non-negative SQL expression, in
    the unit its name `disagreement_name` says) exceeds `above`, each with its `keys`, the
    value the file stores (`recorded_value`), the value derived from its sources
    (`derived_value`) and the size of the disagreement. A row whose stored value is NULL has
    no disagreement. Two of these tests, a warning at the columns' resolution and an error at a
    stated tolerance, give a disagreement its severity.
-#}
{% test agrees_with_its_derivation(model, column_name, derived_value, disagreement, above=0, keys=[], disagreement_name='disagreement') %}

with

compared as (

    select
        {%- for key in keys %}
        {{ key }},
        {%- endfor %}
        {{ column_name }} as recorded_value,
        {{ derived_value }} as derived_value,
        {{ disagreement }} as {{ disagreement_name }}
    from {{ model }}

)

select *
from compared
where {{ disagreement_name }} > {{ above }}

{% endtest %}
