{#-
    A number rounded to `digits` decimal places, on every warehouse. PostgreSQL rounds to a
    number of places only a `numeric` (there is no round(double precision, integer)), so it
    gets a cast first; DuckDB, BigQuery and Spark round a double as it is.
-#}
{% macro round_to(expression, digits) -%}
    {{ return(adapter.dispatch('round_to', 'mimic_segments')(expression, digits)) }}
{%- endmacro %}

{% macro default__round_to(expression, digits) -%}
    round({{ expression }}, {{ digits }})
{%- endmacro %}

{% macro postgres__round_to(expression, digits) -%}
    round(cast({{ expression }} as numeric), {{ digits }})
{%- endmacro %}
