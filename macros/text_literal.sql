{#-
    A text value as a SQL string literal in the engine's own escaping, so that any text (an
    expression, a whole query) comes back unchanged when the literal is read. Standard SQL,
    DuckDB and PostgreSQL double a single quote and read a backslash as itself; Spark SQL reads
    a backslash as an escape and two adjacent literals as one ('it''s' is "its" there).
-#}
{% macro text_literal(value) -%}
    {{ return(adapter.dispatch('text_literal', 'mimic_segments')(value | string)) }}
{%- endmacro %}

{% macro default__text_literal(value) -%}
    {{ return("'" ~ value.replace("'", "''") ~ "'") }}
{%- endmacro %}

{% macro spark__text_literal(value) -%}
    {{ return("'" ~ value.replace('\\', '\\\\').replace("'", "\\'") ~ "'") }}
{%- endmacro %}
