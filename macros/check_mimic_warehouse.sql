{#-
    Pre-flight check of the MIMIC-IV tables of warehouse mode, run as the project's on-run-start
    hook (a no-op in any other mode).

    In `warehouse` mode staging reads tables someone else loaded (mimic-code's PostgreSQL build,
    PhysioNet's BigQuery datasets, a copy of either). Before any model runs, this check asks the
    adapter (adapter.get_relation, adapter.get_columns_in_relation: the catalogue queries of
    whichever engine runs dbt) whether every table of sources `mimic_warehouse_hosp` and
    `mimic_warehouse_icu` exists and has every declared column in a type staging can cast to
    the project's own. It lists every problem at once, naming the relation, the column and the
    declared and found types, and fails the whole invocation. Extra columns are allowed.
-#}
{% macro check_mimic_warehouse() %}
    {%- if not execute or var('mimic_source_mode', 'demo_seeds') != 'warehouse' -%}
        {{ return('') }}
    {%- endif -%}

    {%- set tables = graph.sources.values()
        | selectattr('source_name', 'in', ['mimic_warehouse_hosp', 'mimic_warehouse_icu'])
        | sort(attribute='name') | list -%}
    {%- set problems = [] -%}
    {%- for table in tables -%}
        {%- set name = table.database ~ '.' ~ table.schema ~ '.' ~ table.identifier -%}
        {%- set relation = adapter.get_relation(
            database=table.database, schema=table.schema, identifier=table.identifier) -%}
        {%- if relation is none -%}
            {%- set schema_exists = adapter.check_schema_exists(table.database, table.schema) -%}
            {%- do problems.append("table " ~ name ~ " (MIMIC-IV " ~ table.meta.module ~ "/"
                ~ table.identifier ~ ") not found" ~ ("" if schema_exists else
                "; schema " ~ table.database ~ "." ~ table.schema ~ " does not exist")) -%}
        {%- else -%}
            {%- set found = {} -%}
            {%- for column in adapter.get_columns_in_relation(relation) -%}
                {%- do found.update({column.name | lower: column.dtype | lower}) -%}
            {%- endfor -%}
            {%- set declared = fromyaml(table.meta.columns) -%}
            {%- set missing = declared.keys() | reject('in', found) | list -%}
            {%- if missing -%}
                {%- do problems.append("table " ~ name ~ " is missing column(s) " ~ missing | join(', ')
                    ~ "; found: " ~ found.keys() | join(', ')) -%}
            {%- endif -%}
            {%- for column, declared_type in declared.items() if column in found -%}
                {%- if not mimic_type_is_compatible(declared_type, found[column]) -%}
                    {%- do problems.append("table " ~ name ~ " column " ~ column ~ " has type "
                        ~ found[column] ~ ", declared " ~ declared_type | lower ~ " (accepted: "
                        ~ mimic_accepted_types(declared_type) ~ ")") -%}
                {%- endif -%}
            {%- endfor -%}
        {%- endif -%}
    {%- endfor -%}

    {%- if problems -%}
        {{ exceptions.raise_compiler_error(
            "mimic_source_mode is 'warehouse' but the MIMIC-IV tables are not in the layout this project "
            ~ "reads (vars mimic_warehouse_database, mimic_hosp_schema, mimic_icu_schema; defaults: the "
            ~ "target's database, mimiciv_hosp, mimiciv_icu as mimic-code's PostgreSQL build names them):\n  - "
            ~ problems | join('\n  - ')) }}
    {%- endif -%}

    {{ log("MIMIC-IV warehouse tables: " ~ tables | map(attribute='schema') | unique | join(', ') ~ " in "
        ~ (tables[0].database if tables else '') ~ ": " ~ tables | length
        ~ " tables, columns and types verified", info=true) }}
    {{ return('') }}
{% endmacro %}

{#-
    Type compatibility for warehouse mode. The declared type of a column is the type the
    release source reads it as (DuckDB's spelling in _mimic__sources.yml); a warehouse column is
    compatible when it is of a family staging's casts carry over losslessly. Families hold the
    engines' names after canonical_data_type(): PostgreSQL (smallint, character, double
    precision), BigQuery (INT64, STRING, DATETIME, FLOAT64), Spark/Databricks (int, string).
    Deliberately refused: a string where a number or time is declared (the cast would be a
    parse that can fail row by row), a number where a string is declared (ICD codes would lose
    their leading zeros), and a time zone aware timestamp (a cast shifts it to the session's
    zone; MIMIC-IV times are local, zone-less).
-#}
{% macro mimic_type_family(data_type) -%}
    {%- set families = {
        'integer': ['tinyint', 'smallint', 'int2', 'short', 'byte', 'integer', 'bigint', 'hugeint'],
        'string': ['string', 'character', 'char', 'bpchar', 'nchar', 'nvarchar'],
        'timestamp': ['timestamp', 'datetime'],
        'date': ['date'],
        'double': ['double', 'real', 'float', 'float4', 'numeric', 'decimal', 'bignumeric'],
    } -%}
    {%- set name = canonical_data_type(data_type) | trim -%}
    {%- for family, members in families.items() if name in members -%}
        {{- return(family) -}}
    {%- endfor -%}
    {{- return('') -}}
{%- endmacro %}

{#- The families a declared type accepts: its own, a timestamp for a date, an integer for a double. -#}
{% macro mimic_accepted_types(declared_type) -%}
    {%- set widening = {'date': ['date', 'timestamp'], 'double': ['double', 'integer']} -%}
    {%- set family = mimic_type_family(declared_type) -%}
    {{- return(widening.get(family, [family]) | join(' or ')) -}}
{%- endmacro %}

{% macro mimic_type_is_compatible(declared_type, found_type) -%}
    {%- set found_family = mimic_type_family(found_type) -%}
    {{- return(found_family != '' and found_family in mimic_accepted_types(declared_type).split(' or ')) -}}
{%- endmacro %}
