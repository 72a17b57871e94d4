{#-
    The distinct-free string aggregate of `measure`, its values in ascending order, joined by
    `delimiter_text` (a SQL string literal). dbt's own listagg takes an `order by`, but
    dbt-spark's ignores it (collect_list keeps whatever order the rows arrive in), so on Spark
    the values are sorted as an array before they are joined.
-#}
{% macro sorted_listagg(measure, delimiter_text) %}
    {{ return(adapter.dispatch('sorted_listagg', 'mimic_segments')(measure, delimiter_text)) }}
{% endmacro %}

{% macro default__sorted_listagg(measure, delimiter_text) %}
    {{ return(dbt.listagg(measure, delimiter_text, 'order by ' ~ measure)) }}
{% endmacro %}

{% macro spark__sorted_listagg(measure, delimiter_text) %}
    {{ return('array_join(array_sort(collect_list(' ~ measure ~ ')), ' ~ delimiter_text ~ ')') }}
{% endmacro %}
