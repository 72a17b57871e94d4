{#-
    A type as declared in this project's YAML (seed column_types, contract data_type), spelled
    the way the target engine accepts it. The project declares portable SQL names (`varchar`,
    `double precision`, `integer`, ...), which DuckDB and PostgreSQL take as written; Spark
    has no `varchar` without a length and no `double precision`, so there the names
    canonical_data_type() knows become their canonical spelling (`string`, `double`, ...),
    which is Spark's. A type canonical_data_type() does not know (`decimal(10, 2)`) is
    left as written.
-#}
{% macro engine_data_type(data_type) -%}
    {{ return(adapter.dispatch('engine_data_type', 'mimic_segments')(data_type)) }}
{%- endmacro %}

{% macro default__engine_data_type(data_type) -%}
    {{ return(data_type) }}
{%- endmacro %}

{% macro spark__engine_data_type(data_type) -%}
    {%- set base = (data_type or '') | lower | trim -%}
    {%- set base = base.split('(')[0] | trim -%}
    {%- set canonical = canonical_data_type(base) -%}
    {{ return(canonical if canonical != base else data_type) }}
{%- endmacro %}

{#-
    Spark overrides of dbt's own dispatched macros (dbt looks in the root project first), so
    that a declared type reaches Spark in its spelling:
    - cast(): dbt's contract check casts NULL to each column's declared data_type to compare
      it with what the model's query returns (and unit tests cast their fixtures);
    - the seed's create table and insert read column_types as written: they get a copy of the
      seed's config with each type in Spark's spelling (ICD codes stay `string`, leading zeros kept).
-#}
{% macro spark__cast(field, type) -%}
    cast({{ field }} as {{ engine_data_type(type) }})
{%- endmacro %}

{% macro spark__create_csv_table(model, agate_table) -%}
    {{ return(dbt.spark__create_csv_table(seed_with_engine_column_types(model), agate_table)) }}
{%- endmacro %}

{#-
    dbt-spark's session method substitutes the seed's values into its insert unquoted (a NULL
    becomes the word None, text becomes SQL), so on Spark the rows go in as escaped literals,
    cast to the declared type, in batches of get_batch_size().
-#}
{% macro spark__load_csv_rows(model, agate_table) -%}
    {%- set column_types = seed_with_engine_column_types(model)['config']['column_types'] -%}
    {%- set types = [] -%}
    {%- for name in agate_table.column_names -%}
        {%- do types.append(column_types.get(name, adapter.convert_type(agate_table, loop.index0))) -%}
    {%- endfor -%}
    {%- set statements = [] -%}
    {%- for chunk in agate_table.rows | batch(get_batch_size()) -%}
        {%- set sql -%}
            insert into {{ this.render() }} values
            {%- for row in chunk %}
            ({% for value in row -%}
                cast({{ spark_seed_literal(value) }} as {{ types[loop.index0] }}){{ ', ' if not loop.last }}
            {%- endfor %}){{ ',' if not loop.last }}
            {%- endfor %}
        {%- endset -%}
        {%- do run_query(sql) -%}
        {%- if loop.first -%}{%- do statements.append(sql) -%}{%- endif -%}
    {%- endfor -%}
    {{ return(statements[0] if statements else '') }}
{%- endmacro %}

{#- A CSV value as a Spark SQL literal: NULL, a number or boolean as written, anything else quoted. -#}
{% macro spark_seed_literal(value) -%}
    {%- if value is none -%}
        null
    {%- elif value is sameas true or value is sameas false -%}
        {{ 'true' if value else 'false' }}
    {%- elif value is number -%}
        {{ value }}
    {%- else -%}
        {{ spark__text_literal(value | string) }}
    {%- endif -%}
{%- endmacro %}

{#- The seed node with its column_types in the engine's spelling (a copy: the node is untouched). -#}
{% macro seed_with_engine_column_types(model) -%}
    {%- set column_types = {} -%}
    {%- for name, data_type in (model['config'].get('column_types') or {}).items() -%}
        {%- do column_types.update({name: engine_data_type(data_type)}) -%}
    {%- endfor -%}
    {%- set config = dict(model['config']) -%}
    {%- do config.update({'column_types': column_types}) -%}
    {%- set copy = dict(model) -%}
    {%- do copy.update({'config': config}) -%}
    {{ return(copy) }}
{%- endmacro %}
