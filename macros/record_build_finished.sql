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
        {%- do run_query(
            "update " ~ built[0].node.relation_name ~ " set build_finished_at = cast(current_timestamp as timestamp)"
            ~ " where build_id = '" ~ invocation_id ~ "'") -%}
    {%- endif -%}
    {{ return('') }}
{% endmacro %}
