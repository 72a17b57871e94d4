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
      would make the database refuse them; here one scan counts them);
    - every column whose `meta` declares `accepted_range` ({min_value, max_value}, either
      optional, both inclusive; the bounds are SQL, as in the generic test accepted_range) or
      `accepted_values` ({values: [...], quote: true|false}) holds no other value. NULLs are
      not checked (not_null does that). These are the per-column range and value-list tests
      folded into the same scan: one node per table instead of one per column and rule;
    - every column whose `meta` declares `unique: true` repeats no value (NULLs aside, as in
      dbt's `unique` test);
    - every check listed in `checks` (macro declared_check: a generic test's name and its
      arguments, e.g. a reconciliation or a relationship) selects no row.
    Returns one row per disagreement: the column, what was declared, what was found (for the
    row rules and the checks, how many rows break them) and, for a declared check, its number
    in `checks` and the SQL that selects its breaking rows, which the test materialization runs
    into an audit table of their own (docs block `declared_checks`).
-#}
{% test matches_declared_contract(model, checks=[]) %}

{%- set problems = [] -%}
{%- set not_null_columns = [] -%}
{#- (column, SQL condition a row breaks the rule on, the rule as declared) -#}
{%- set row_rules = [] -%}
{%- set unique_columns = [] -%}
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
        {%- set meta = column.meta or {} -%}
        {%- if meta.accepted_range is mapping -%}
            {%- do row_rules.append(accepted_range_rule(name | lower, meta.accepted_range)) -%}
        {%- endif -%}
        {%- if meta.accepted_values is mapping -%}
            {%- do row_rules.append(accepted_values_rule(name | lower, meta.accepted_values)) -%}
        {%- endif -%}
        {%- if meta.unique -%}
            {%- do unique_columns.append(name | lower) -%}
        {%- endif -%}
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
        '{{ actual_type }}' as found,
        cast(null as {{ dbt.type_int() }}) as check_number,
        cast(null as {{ dbt.type_string() }}) as failing_rows_sql
        {%- if not loop.last %}
    union all
        {%- endif %}
    {%- endfor %}
{%- else %}
    select
        cast(null as {{ dbt.type_string() }}) as column_name,
        cast(null as {{ dbt.type_string() }}) as declared,
        cast(null as {{ dbt.type_string() }}) as found,
        cast(null as {{ dbt.type_int() }}) as check_number,
        cast(null as {{ dbt.type_string() }}) as failing_rows_sql
    where 1 = 0
{%- endif %}

),

{#- only columns that exist: a missing one is already reported above. Each row check is
    (column, the count of rows breaking it as an aggregate, the rule as declared, what the
    count counts) #}
{%- set row_checks = [] %}
{%- for name in not_null_columns | select('in', actual) %}
    {%- do row_checks.append((name, 'count(*) - count(' ~ adapter.quote(name) ~ ')', 'not null', ' null rows')) %}
{%- endfor %}
{%- for name in unique_columns | select('in', actual) %}
    {#- rows beyond the first of each value; NULLs are not values (as dbt's unique test) #}
    {%- do row_checks.append((name, 'count(' ~ adapter.quote(name) ~ ') - count(distinct ' ~ adapter.quote(name) ~ ')', 'unique', ' repeated rows')) %}
{%- endfor %}
{%- for name, broken_when, declared_as in row_rules | selectattr(0, 'in', actual) %}
    {%- do row_checks.append((name, 'sum(case when ' ~ broken_when ~ ' then 1 else 0 end)', declared_as, ' rows outside')) %}
{%- endfor %}

row_counts as (

    select
        {%- for name, broken_count, declared_as, counted in row_checks %}
        {{ broken_count }} as broken_{{ loop.index }},
        {%- endfor %}
        count(*) as row_count
    from {{ model }}

),

{#- each declared check, counted from its own test's SQL #}
{%- set declared_checks = [] %}
{%- for check in checks %}
    {%- do declared_checks.append(declared_check(model, check)) %}
{%- endfor %}
{#- where the engine's planner needs it, each check is counted in a statement of its own when
    the test runs (dbt build, test or retry; not while compile or docs generate render it, when
    the tables may not exist yet), and only its count enters this query #}
{%- set separately = declared_checks_counted_separately() %}
{%- set counting = execute and flags.WHICH in ['build', 'test', 'retry'] %}
{%- for column_name, declared_as, check_sql in declared_checks %}
    {%- set count_sql = 'select count(*) as broken from (' ~ check_sql ~ ') as breaking_rows' %}

check_{{ loop.index }} as (

    {%- if separately %}
    select {{ run_query(count_sql).columns[0].values()[0] if counting else 0 }} as broken
    {%- else %}
    {{ count_sql }}
    {%- endif %}

),
{%- endfor %}

{#- every counted rule (its column may be a check's expression, quotes and all, hence a
    text literal) as (column, the rule as declared, the CTE and column holding its count,
    what the count counts, for a declared check its number and the SQL selecting its rows) #}
{%- set counted = [] %}
{%- for name, broken_count, declared_as, counts in row_checks %}
    {%- do counted.append((name, declared_as, 'row_counts', 'broken_' ~ loop.index, counts, none, none)) %}
{%- endfor %}
{%- for column_name, declared_as, check_sql in declared_checks %}
    {%- do counted.append((column_name, declared_as, 'check_' ~ loop.index, 'broken', ' failing rows', loop.index, check_sql)) %}
{%- endfor %}

count_problems as (

    {%- for name, declared_as, source, broken, counts, check_number, check_sql in counted %}
    select
        {{ text_literal(name) }} as column_name,
        {{ text_literal(declared_as) }} as declared,
        {{ dbt.concat(["cast(" ~ broken ~ " as " ~ dbt.type_string() ~ ")", "'" ~ counts ~ "'"]) }} as found,
        cast({{ check_number if check_number else 'null' }} as {{ dbt.type_int() }}) as check_number,
        cast({{ text_literal(check_sql) if check_sql else 'null' }} as {{ dbt.type_string() }}) as failing_rows_sql
    from {{ source }}
    where {{ broken }} > 0
    union all
    {%- endfor %}
    select
        cast(null as {{ dbt.type_string() }}) as column_name,
        cast(null as {{ dbt.type_string() }}) as declared,
        cast(null as {{ dbt.type_string() }}) as found,
        cast(null as {{ dbt.type_int() }}) as check_number,
        cast(null as {{ dbt.type_string() }}) as failing_rows_sql
    from row_counts
    where 1 = 0

)

select
    column_name,
    declared,
    found,
    check_number,
    failing_rows_sql
from type_problems
union all
select
    column_name,
    declared,
    found,
    check_number,
    failing_rows_sql
from count_problems

{% endtest %}
