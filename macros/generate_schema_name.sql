{#-
    Use a model's custom schema name as it is (raw, staging, intermediate, marts) instead of
    dbt's default "<target schema>_<custom schema>", so BI tools and people find the marts in
    a schema called `marts`. Models without a custom schema go to the target schema.

    Var `schema_suffix` (empty by default) is appended to every schema: publishing on a
    warehouse builds into `marts__candidate` etc. and renames them over the published schemas
    once every test passed (mimic_segments.publishing.schema_swap).
-#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- set suffix = var('schema_suffix', '') | trim -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema ~ suffix }}
    {%- else -%}
        {{ custom_schema_name | trim ~ suffix }}
    {%- endif -%}
{%- endmacro %}
