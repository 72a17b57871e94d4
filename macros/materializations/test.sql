{#-
    The data-test materialization, overriding dbt's built-in one (docs block `stored_failures`).

    dbt's own stores the rows of every test configured with store_failures: each test first
    writes its failing rows to a table in the audit schema (empty when it passes) and is then
    counted from that table, so every passing test still costs a create, a commit and a drop on
    the next build. This project stores failures for every test (dbt_project.yml), and nearly
    all of them pass: that bookkeeping was about an eighth of a production build from an empty
    database at 10,000 patients, and nearly a third when rebuilding in place.

    Here a test is counted first, straight from its query. Only a test that found rows writes
    them to its audit table (the query runs a second time, on that path only); a passing test
    writes nothing and drops the audit table a previous failing build left, so the audit schema
    holds exactly the failures and warnings of the last build, nothing stale.
    The result dbt reports (failures, warn, error) is the same as with the built-in version.

    Engine-neutral: only adapter macros (get_create_sql, drop_relation), as dbt's own uses.
-#}
{%- materialization test, default -%}

    {%- set limit = config.get('limit') -%}
    {%- set sql_header = config.get('sql_header') if flags.REQUIRE_SQL_HEADER_IN_TEST_CONFIGS else none -%}
    {%- set sql_with_limit = get_limit_subquery_sql(sql, limit) -%}

    {#- 1. The count, from the test's own query: one statement for a passing test. -#}
    {%- call statement('main', fetch_result=True) -%}
        {% if sql_header %}{{ sql_header }}{% endif %}
        {{ get_test_sql(sql_with_limit, config.get('fail_calc'), config.get('warn_if'), config.get('error_if'), limit=none) }}
    {%- endcall -%}

    {%- set relations = [] -%}
    {%- if should_store_failures() -%}
        {%- set counted = load_result('main')['table'] -%}
        {#- failures is fail_calc's value: count(*) by default, null for a custom sum over no rows.
            A value that is not a number counts as found, so failing rows are never left unstored. -#}
        {%- set failures = counted.rows[0][0] if counted.rows | length > 0 else none -%}
        {%- set found_rows = failures is not none and (failures | float(1.0)) != 0 -%}

        {%- set store_as = config.get('store_failures_as') or 'table' -%}
        {%- if store_as not in ['table', 'view'] -%}
            {{ exceptions.raise_compiler_error(
                "store_failures_as is '" ~ store_as ~ "' for " ~ model['unique_id'] ~ "; this project stores failures as 'table' or 'view'"
            ) }}
        {%- endif -%}
        {#- the cache answers this, no query: a passing test whose audit table is absent costs nothing more -#}
        {%- set previous = adapter.get_relation(database=database, schema=schema, identifier=model['alias']) -%}
        {%- if previous -%}
            {%- do adapter.drop_relation(previous) -%}
        {%- endif -%}

        {#- 2. Only when it found rows: keep them where the error message points. -#}
        {%- if found_rows -%}
            {%- set failures_relation = api.Relation.create(
                database=database, schema=schema, identifier=model['alias'], type=store_as
            ) -%}
            {%- call statement('store_failures', auto_begin=True) -%}
                {% if sql_header %}{{ sql_header }}{% endif %}
                {{ get_create_sql(failures_relation, sql_with_limit) }}
            {%- endcall -%}
            {%- do relations.append(failures_relation) -%}
        {%- endif -%}
        {%- if previous or found_rows -%}
            {{ adapter.commit() }}
        {%- endif -%}
    {%- endif -%}

    {{ return({'relations': relations}) }}

{%- endmaterialization -%}
