{#-
    on-run-end hook: var bi_reader_roles may use the schema `marts` this invocation wrote (with
    var schema_suffix: the candidate a publish swaps in; a privilege travels with its schema
    when it is renamed). dbt's `grants` config grants SELECT on each relation only: without
    USAGE on its schema a role reads none of them. PostgreSQL only: the engines without roles
    need nothing, and a run that built nothing in `marts` grants nothing.
-#}
{% macro grant_bi_schema_usage() %}
    {%- set roles = var('bi_reader_roles', []) -%}
    {%- if not execute or target.type != 'postgres' or not roles -%}
        {{ return('') }}
    {%- endif -%}
    {%- set schema = generate_schema_name('marts', none) -%}
    {%- set wrote_marts = results | selectattr('node.schema', 'equalto', schema)
        | selectattr('status', 'equalto', 'success') | list -%}
    {%- if wrote_marts -%}
        {%- for role in roles -%}
            {%- do run_query('grant usage on schema ' ~ adapter.quote(schema) ~ ' to ' ~ adapter.quote(role)) -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return('') }}
{% endmacro %}
