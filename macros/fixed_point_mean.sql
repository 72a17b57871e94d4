{#-
    The mean of a fixed-point (numeric) expression, the same on every engine and in every row
    order: the sum of fixed-point numbers is exact, and the one division is in floating point.
    avg() of a numeric differs between engines: DuckDB returns a double, PostgreSQL a numeric
    of many digits, Spark a decimal cut at four more places than its input.
-#}
{% macro fixed_point_mean(expression) -%}
    cast(sum({{ expression }}) as {{ type_double() }}) / count({{ expression }})
{%- endmacro %}
