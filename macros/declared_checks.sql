{#-
    The table-level checks a model lists under `checks:` of its matches_declared_contract
    test, so that one dbt node runs them all (why: docs block `declared_checks`). Each check
    is a one-key mapping from a generic test's name to that test's arguments, exactly as it
    would be declared on its own; the key `where` keeps only the matching rows of the tested
    model first (dbt's `where` config, or expression_is_true's own argument); the key `name`
    labels the check (the name its separate test had), so that its failure row leads with it.

    Returns (column, the check as declared, the SQL that selects the rows breaking it): the
    test's own SQL, from the same macro a separate test node would run.
-#}
{% macro declared_check(model, check) %}
    {%- if check is not mapping or check | length != 1 -%}
        {{ exceptions.raise_compiler_error(
            "a declared check is " ~ check ~ ": write each check as {<generic test name>: {<its arguments>}}"
        ) }}
    {%- endif -%}
    {%- set name = (check.keys() | list)[0] -%}
    {%- set arguments = dict(check[name] or {}) -%}
    {%- set where = arguments.pop('where', none) -%}
    {%- set label = arguments.pop('name', none) -%}
    {%- set checked = model if where is none else '(select * from ' ~ model ~ ' where ' ~ where ~ ') as checked_rows' -%}
    {%- set described = [] -%}
    {%- for key, value in arguments.items() | sort if key != 'column_name' -%}
        {#- a relation reads as its name, a list as [a, b]: the message is the same on every engine -#}
        {%- if value.identifier is defined -%}
            {%- set value = value.identifier -%}
        {%- elif value is iterable and value is not string and value is not mapping -%}
            {%- set value = '[' ~ (value | join(', ')) ~ ']' -%}
        {%- endif -%}
        {%- do described.append(key ~ '=' ~ value) -%}
    {%- endfor -%}
    {%- if where is not none -%}
        {%- do described.append('where ' ~ where) -%}
    {%- endif -%}
    {%- set declared = (label ~ ': ' if label else '') ~ name ~ '(' ~ (described | join(', ')) ~ ')' -%}
    {#- one call per test, so that dbt sees each macro this one calls (a test node's context
        holds only the macros its test depends on, found from calls in their source); this
        chain is also the one list of the tests a check can name -#}
    {%- if name == 'accepted_range' -%}
        {%- set check_sql = test_accepted_range(model=checked, **arguments) -%}
    {%- elif name == 'accepted_values' -%}
        {%- set check_sql = test_accepted_values(model=checked, **arguments) -%}
    {%- elif name == 'column_sum_matches' -%}
        {%- set check_sql = test_column_sum_matches(model=checked, **arguments) -%}
    {%- elif name == 'expression_is_true' -%}
        {%- set check_sql = test_expression_is_true(model=checked, **arguments) -%}
    {%- elif name == 'matches_model_by_key' -%}
        {%- set check_sql = test_matches_model_by_key(model=checked, **arguments) -%}
    {%- elif name == 'not_null' -%}
        {%- set check_sql = test_not_null(model=checked, **arguments) -%}
    {%- elif name == 'relationships' -%}
        {%- set check_sql = test_relationships(model=checked, **arguments) -%}
    {%- elif name == 'relationships_composite' -%}
        {%- set check_sql = test_relationships_composite(model=checked, **arguments) -%}
    {%- elif name == 'row_count_between' -%}
        {%- set check_sql = test_row_count_between(model=checked, **arguments) -%}
    {%- elif name == 'row_count_matches' -%}
        {%- set check_sql = test_row_count_matches(model=checked, **arguments) -%}
    {%- elif name == 'shares_sum_to_one' -%}
        {%- set check_sql = test_shares_sum_to_one(model=checked, **arguments) -%}
    {%- elif name == 'unique_combination_of_columns' -%}
        {%- set check_sql = test_unique_combination_of_columns(model=checked, **arguments) -%}
    {%- else -%}
        {{ exceptions.raise_compiler_error(
            "a declared check names the test '" ~ name ~ "', which macro declared_check"
            ~ " (macros/declared_checks.sql) does not run: a check is one of the generic tests it calls"
        ) }}
    {%- endif -%}
    {%- do return((arguments.get('column_name', ''), declared | replace('\n', ' '), check_sql)) -%}
{% endmacro %}


{#-
    Whether matches_declared_contract counts each declared check in a statement of its own
    (true) rather than in its one query (false). One query is cheapest where the planner
    takes it in its stride (DuckDB, PostgreSQL). Spark's planner expands every view a query
    reads, once per reference: a contract test over a view of views with several checks
    became one plan that ran out of the driver's heap, so there each check is counted alone.
-#}
{% macro declared_checks_counted_separately() -%}
    {{ return(adapter.dispatch('declared_checks_counted_separately', 'mimic_segments')()) }}
{%- endmacro %}

{% macro default__declared_checks_counted_separately() -%}
    {{ return(false) }}
{%- endmacro %}

{% macro spark__declared_checks_counted_separately() -%}
    {{ return(true) }}
{%- endmacro %}
