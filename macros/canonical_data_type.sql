{#-
    The engine-neutral name of a SQL type, so that a declared `data_type` and the type an
    engine reports compare equal when they are the same type under two spellings: PostgreSQL
    reports `double precision` and `character varying`, DuckDB `double` and `varchar`, Spark
    `double` and `string`. Lower-cased, a length or precision suffix dropped; a name not
    listed is returned as it is (so an unexpected type still shows up as a disagreement).
-#}
{% macro canonical_data_type(data_type) -%}
    {%- set aliases = {
        'double precision': 'double', 'float8': 'double', 'float64': 'double',
        'character varying': 'string', 'varchar': 'string', 'text': 'string',
        'int8': 'bigint', 'int64': 'bigint', 'long': 'bigint',
        'int': 'integer', 'int4': 'integer',
        'bool': 'boolean',
        'timestamp without time zone': 'timestamp', 'timestamp_ntz': 'timestamp',
    } -%}
    {%- set name = (data_type or '') | lower | trim -%}
    {%- set name = name.split('(')[0] | trim -%}
    {{- aliases.get(name, name) -}}
{%- endmacro %}
