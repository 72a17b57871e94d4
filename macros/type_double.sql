{#-
    An 8-byte floating-point type on every warehouse. dbt's own type_float() renders `float`,
    which is 8 bytes on Postgres and Snowflake but 4 bytes (REAL) on DuckDB.
-#}
{% macro type_double() -%}
    {{ return(adapter.dispatch('type_double', 'mimic_segments')()) }}
{%- endmacro %}

{% macro default__type_double() -%}
    double precision
{%- endmacro %}

{% macro bigquery__type_double() -%}
    float64
{%- endmacro %}

{% macro spark__type_double() -%}
    double
{%- endmacro %}
