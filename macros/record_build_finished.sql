{#-
    on-run-end hook: stamp marts.build_metadata with the time every model and test of this
    invocation had run. Does nothing when this invocation did not build build_metadata (for
    example `dbt test`, or a --select without it), so an older build's stamp is never changed.
-#}
{% macro record_build_finished() %}
    {%- if not execute -%}
        {{ return('') }}
    {%- endif -%}
    {%- set built = results | selectattr('node.name', 'equalto', 'build_metadata')
        | selectattr('status', 'equalto', 'success') | list -%}
    {%- if built -%}
        {%- do stamp_build_finished(built[0].node.relation_name) -%}
    {%- endif -%}
    {{ return('') }}
{% endmacro %}

{#- Set build_finished_at of this invocation's row of build_metadata (`relation_name`) to now. -#}
{% macro stamp_build_finished(relation_name) %}
    {{ return(adapter.dispatch('stamp_build_finished', 'mimic_segments')(relation_name)) }}
{% endmacro %}

{% macro default__stamp_build_finished(relation_name) %}
    {%- do run_query(
        "update " ~ relation_name ~ " set build_finished_at = cast(current_timestamp as timestamp)"
        ~ " where build_id = '" ~ invocation_id ~ "'") -%}
{% endmacro %}

{#-
    Spark: a Parquet table has no UPDATE, and a table cannot be overwritten from itself; the
    stamped copy is written beside it, then takes its name.
-#}
{% macro spark__stamp_build_finished(relation_name) %}
    {%- set stamped = relation_name ~ '__finished' -%}
    {%- set columns = [] -%}
    {%- for column in adapter.get_columns_in_relation(api.Relation.create(
            schema=relation_name.split('.')[-2], identifier=relation_name.split('.')[-1])) -%}
        {%- if column.name == 'build_finished_at' -%}
            {%- do columns.append("case when build_id = '" ~ invocation_id
                ~ "' then cast(current_timestamp() as timestamp) else build_finished_at end as build_finished_at") -%}
        {%- else -%}
            {%- do columns.append(column.name) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- do run_query("drop table if exists " ~ stamped) -%}
    {%- do run_query("create table " ~ stamped ~ " using parquet as select " ~ columns | join(', ')
        ~ " from " ~ relation_name) -%}
    {%- do run_query("drop table " ~ relation_name) -%}
    {%- do run_query("alter table " ~ stamped ~ " rename to " ~ relation_name) -%}
{% endmacro %}
