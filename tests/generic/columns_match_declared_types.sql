{#-
    A contract check for models dbt cannot put under an enforced contract (Python models):
    every column the relation has must be declared in the model's YAML with the same
    `data_type`, and every declared column that has a `data_type` must exist. Returns one row
    per disagreement (column, declared type, actual type). Declared columns without a
    `data_type` are optional (e.g. present only when a var switches them on).
-#}
{% test columns_match_declared_types(model) %}

{%- set problems = [] -%}
{%- if execute -%}
    {%- set nodes = graph.nodes.values()
        | selectattr('resource_type', 'equalto', 'model')
        | selectattr('alias', 'equalto', model.identifier)
        | list -%}
    {%- set declared = {} -%}
    {%- for name, column in nodes[0].columns.items() -%}
        {%- do declared.update({name | lower: (column.data_type or '') | lower}) -%}
    {%- endfor -%}
    {%- set actual = {} -%}
    {%- for column in adapter.get_columns_in_relation(model) -%}
        {%- do actual.update({column.name | lower: column.dtype | lower}) -%}
    {%- endfor -%}
    {%- for name, dtype in actual.items() -%}
        {%- if name not in declared -%}
            {%- do problems.append((name, 'not declared', dtype)) -%}
        {%- elif declared[name] and declared[name] != dtype -%}
            {%- do problems.append((name, declared[name], dtype)) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- for name, dtype in declared.items() -%}
        {%- if dtype and name not in actual -%}
            {%- do problems.append((name, dtype, 'missing')) -%}
        {%- endif -%}
    {%- endfor -%}
{%- endif %}

{%- if problems %}
    {%- for name, declared_type, actual_type in problems %}
select
    '{{ name }}' as column_name,
    '{{ declared_type }}' as declared_type,
    '{{ actual_type }}' as actual_type
        {%- if not loop.last %}
union all
        {%- endif %}
    {%- endfor %}
{%- else %}
select
    cast(null as {{ dbt.type_string() }}) as column_name,
    cast(null as {{ dbt.type_string() }}) as declared_type,
    cast(null as {{ dbt.type_string() }}) as actual_type
where 1 = 0
{%- endif %}

{% endtest %}
