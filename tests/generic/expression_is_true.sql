{#-
    Row-level rule: every row (optionally only those matching `where`) satisfies the SQL
    boolean `expression`. Returns the rows that break it, so the failure shows what to fix.
    A NULL result counts as a failure: a rule that cannot be evaluated has not been met.
-#}
{% test expression_is_true(model, expression, where='1 = 1') %}

select *
from {{ model }}
where ({{ where }})
    and not coalesce(({{ expression }}), false)

{% endtest %}
