{#-
    The data-test materialization, in place of dbt's built-in one on every engine. Why and
    what it costs: docs block `stored_failures` (docs/build_and_quality.md), the one place
    that explains it. In short: a test is counted from its own query; only a test that found
    rows writes them to its audit table (the query runs again, on that path only); a passing
    test drops the table an earlier build left. A contract test that found a declared check
    broken also writes that check's rows to `<its audit table>__<check number>` (docs block
    `declared_checks`). Only adapter macros, as dbt's own uses.
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
        {#- a contract test's declared checks (matches_declared_contract): the tables of their
            rows an earlier build left, again from the cache. Past the number of checks it has
            now, the lookup goes on while tables are found: one a longer list of checks left. -#}
        {%- set test_metadata = model.get('test_metadata') or {} -%}
        {%- set declared_checks = (test_metadata.get('kwargs') or {}).get('checks') or []
            if test_metadata.get('name') == 'matches_declared_contract' else [] -%}
        {%- set previous_checks = [] -%}
        {%- if declared_checks -%}
            {%- for number in range(1, 10000) -%}
                {%- set previous_check = adapter.get_relation(
                    database=database, schema=schema, identifier=model['alias'] ~ '__' ~ number
                ) -%}
                {%- if previous_check -%}
                    {%- do adapter.drop_relation(previous_check) -%}
                    {%- do previous_checks.append(previous_check) -%}
                {%- elif number > declared_checks | length -%}
                    {%- break -%}
                {%- endif -%}
            {%- endfor -%}
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
            {#- each broken declared check's rows, from the SQL its row above carries; read from
                the table just written unless a `limit` cut it, or it is a view (the query again) -#}
            {%- if declared_checks -%}
                {%- set stored_rows = failures_relation if store_as == 'table' and limit is none
                    else '(' ~ sql ~ ') as failures' -%}
                {%- set broken_checks = run_query(
                    'select check_number, failing_rows_sql from ' ~ stored_rows
                    ~ ' where check_number is not null order by check_number'
                ) -%}
                {%- for check_number, failing_rows_sql in broken_checks.rows -%}
                    {%- set check_relation = api.Relation.create(
                        database=database, schema=schema,
                        identifier=model['alias'] ~ '__' ~ (check_number | int), type=store_as
                    ) -%}
                    {%- call statement('store_check_failures', auto_begin=True) -%}
                        {% if sql_header %}{{ sql_header }}{% endif %}
                        {{ get_create_sql(check_relation, get_limit_subquery_sql(failing_rows_sql, limit)) }}
                    {%- endcall -%}
                    {%- do relations.append(check_relation) -%}
                {%- endfor -%}
            {%- endif -%}
        {%- endif -%}
        {%- if previous or previous_checks or found_rows -%}
            {{ adapter.commit() }}
        {%- endif -%}
    {%- endif -%}

    {{ return({'relations': relations}) }}

{%- endmaterialization -%}
