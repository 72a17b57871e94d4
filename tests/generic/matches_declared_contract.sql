{#-
    The contract check for models and seeds dbt does not put under an enforced contract
    (Python models, staging views, intermediate tables, seeds), in one query:
    - every column the relation has is declared in the model's YAML with the same
      `data_type` (compared through canonical_data_type(), so that two engines' spellings
      of one type agree), and every declared column that has a `data_type` exists (declared columns
      without a `data_type` are optional, e.g. present only when a var switches them on);
      columns a model generates from the feature catalogue (macro generated_columns()) count
      as declared, so a new clustering feature needs no YAML;
    - every declared column with a `not_null` constraint holds no null (an enforced contract
      would make the database refuse them; here one scan counts them).
    Returns one row per disagreement: the column, what was declared, what was found.
-#}
{% test matches_declared_contract(model) %}

{%- set problems = [] -%}
{%- set not_null_columns = [] -%}
{%- if execute -%}
    {%- set nodes = graph.nodes.values()
        | selectattr('resource_type', 'in', ['model', 'seed'])
        | selectattr('alias', 'equalto', model.identifier)
        | selectattr('schema', 'equalto', model.schema)
        | list -%}
    {#- types as written (for the message) and as compared (canonical_data_type) -#}
    {%- set declared = {} -%}
    {%- for name, column in nodes[0].columns.items() -%}
        {%- do declared.update({name | lower: (column.data_type or '') | lower}) -%}
        {%- for constraint in column.constraints if constraint.type == 'not_null' -%}
            {%- do not_null_columns.append(name | lower) -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- for name, column in generated_columns(model.identifier).items() -%}
        {%- do declared.update({name | lower: column.data_type | lower}) -%}
    {%- endfor -%}
    {%- set actual = {} -%}
    {%- for column in adapter.get_columns_in_relation(model) -%}
        {%- do actual.update({column.name | lower: column.dtype | lower}) -%}
    {%- endfor -%}
    {%- for name, dtype in actual.items() -%}
        {%- if name not in declared -%}
            {%- do problems.append((name, 'not declared', dtype)) -%}
        {%- elif declared[name] and canonical_data_type(declared[name]) != canonical_data_type(dtype) -%}
            {%- do problems.append((name, declared[name], dtype)) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- for name, dtype in declared.items() -%}
        {%- if dtype and name not in actual -%}
            {%- do problems.append((name, dtype, 'missing')) -%}
        {%- endif -%}
    {%- endfor -%}
{%- endif %}

with

type_problems as (

{%- if problems %}
    {%- for name, declared_type, actual_type in problems %}
    select
        '{{ name }}' as column_name,
        '{{ declared_type }}' as declared,
        '{{ actual_type }}' as found
        {%- if not loop.last %}
    union all
        {%- endif %}
    {%- endfor %}
{%- else %}
    select
        cast(null as {{ dbt.type_string() }}) as column_name,
        cast(null as {{ dbt.type_string() }}) as declared,
        cast(null as {{ dbt.type_string() }}) as found
    where 1 = 0
{%- endif %}

),

{#- only columns that exist: a missing one is already reported above #}
{%- set checked = not_null_columns | select('in', actual) | list %}

null_counts as (

    select
        {%- for name in checked %}
        count(*) - count({{ adapter.quote(name) }}) as {{ adapter.quote(name) }},
        {%- endfor %}
        count(*) as row_count
    from {{ model }}

),

null_problems as (

    {%- for name in checked %}
    select
        '{{ name }}' as column_name,
        'not null' as declared,
        {{ dbt.concat(["cast(" ~ adapter.quote(name) ~ " as " ~ dbt.type_string() ~ ")", "' null rows'"]) }} as found
    from null_counts
    where {{ adapter.quote(name) }} > 0
    union all
    {%- endfor %}
    select
        cast(null as {{ dbt.type_string() }}) as column_name,
        cast(null as {{ dbt.type_string() }}) as declared,
        cast(null as {{ dbt.type_string() }}) as found
    from null_counts
    where 1 = 0

)

select
    column_name,
    declared,
    found
from type_problems
union all
select
    column_name,
    declared,
    found
from null_problems

{% endtest %}
