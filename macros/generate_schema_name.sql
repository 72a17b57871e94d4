{#-
    Use a model's custom schema name as it is (raw, staging, intermediate, marts) instead of
    dbt's default "<target schema>_<custom schema>", so BI tools and people find the marts in
    a schema called `marts`. Models without a custom schema go to the target schema.
-#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
