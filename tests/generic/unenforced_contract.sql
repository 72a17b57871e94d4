{#-
    A model's (or seed's) declared contract, checked where nothing else enforces it (docs
    block `contracts_and_constraints`): the `not_null` constraints of its columns and, for a
    node without an enforced contract, the declared `data_type`s.

    Where dbt enforces the contract (a SQL model materialized as a table on DuckDB or
    PostgreSQL), the database refuses a NULL on insert and dbt compares the column types
    before building, so this test selects nothing and reads nothing. It scans where they do
    not: Spark (Parquet tables enforce no constraint), views (staging over Parquet copies or
    warehouse tables), Python models and seeds (dbt puts neither under a contract).

    Failing rows: one per broken rule, with the column, what was declared, what was found and,
    for a NULL, the row's key (`key_columns`, by default the first declared column), so that
    every failure names the model, the column and the offending keys.
-#}
{% test unenforced_contract(model, key_columns=none) %}

{%- set not_null_columns = [] -%}
{%- set type_problems = [] -%}
{%- set enforced = true -%}
{%- set keys = key_columns or [] -%}
{%- if execute -%}
    {%- set nodes = graph.nodes.values()
        | selectattr('resource_type', 'in', ['model', 'seed'])
        | selectattr('alias', 'equalto', model.identifier)
        | selectattr('schema', 'equalto', model.schema)
        | list -%}
    {%- set node = nodes[0] -%}
    {%- set contracted = node.resource_type == 'model' and node.language == 'sql'
        and node.config.contract.enforced -%}
    {%- set enforced = contracted and node.config.materialized == 'table'
        and target.type in ['duckdb', 'postgres'] -%}
    {%- for name, column in node.columns.items() -%}
        {%- if not keys -%}
            {%- do keys.append(name) -%}
        {%- endif -%}
        {%- for constraint in column.constraints if constraint.type == 'not_null' -%}
            {%- do not_null_columns.append(name) -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- if not contracted -%}
        {%- set declared = {} -%}
        {%- for name, column in node.columns.items() -%}
            {%- do declared.update({name | lower: (column.data_type or '') | lower}) -%}
        {%- endfor -%}
        {%- set actual = {} -%}
        {%- for column in adapter.get_columns_in_relation(model) -%}
            {%- do actual.update({column.name | lower: column.dtype | lower}) -%}
        {%- endfor -%}
        {%- for name, dtype in generated_columns(model.identifier).items() -%}
            {%- do declared.update({name | lower: dtype.data_type | lower}) -%}
        {%- endfor -%}
        {%- for name, dtype in actual.items() -%}
            {%- if name not in declared -%}
                {%- do type_problems.append((name, 'not declared', dtype)) -%}
            {%- elif declared[name] and canonical_data_type(declared[name]) != canonical_data_type(dtype) -%}
                {%- do type_problems.append((name, declared[name], dtype)) -%}
            {%- endif -%}
        {%- endfor -%}
        {%- for name, dtype in declared.items() if dtype and name not in actual -%}
            {%- do type_problems.append((name, dtype, 'missing')) -%}
        {%- endfor -%}
    {%- endif -%}
{%- endif -%}
{%- set key_parts = [] -%}
{%- for key in keys -%}
    {%- if not loop.first -%}{%- do key_parts.append("', '") -%}{%- endif -%}
    {%- do key_parts.append("'" ~ key ~ "='") -%}
    {%- do key_parts.append("coalesce(cast(" ~ adapter.quote(key) ~ " as " ~ dbt.type_string() ~ "), 'null')") -%}
{%- endfor %}

select
    cast(null as {{ dbt.type_string() }}) as column_name,
    cast(null as {{ dbt.type_string() }}) as declared,
    cast(null as {{ dbt.type_string() }}) as found,
    cast(null as {{ dbt.type_string() }}) as failing_key
from {{ model }}
where 1 = 0
{%- for name, declared_type, found_type in type_problems %}
union all
select
    '{{ name }}' as column_name,
    '{{ declared_type }}' as declared,
    '{{ found_type }}' as found,
    cast(null as {{ dbt.type_string() }}) as failing_key
{%- endfor %}
{%- if not enforced and not_null_columns %}
union all
{#- one scan: each row with a NULL where none is allowed, named by its first such column #}
select
    case
        {%- for name in not_null_columns %}
        when {{ adapter.quote(name) }} is null then '{{ name }}'
        {%- endfor %}
    end as column_name,
    'not null' as declared,
    'null' as found,
    {{ dbt.concat(key_parts) if key_parts else "''" }} as failing_key
from {{ model }}
where
    {%- for name in not_null_columns %}
    {{ 'or ' if not loop.first }}{{ adapter.quote(name) }} is null
    {%- endfor %}
{%- endif %}

{% endtest %}
