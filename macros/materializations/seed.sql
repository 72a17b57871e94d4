{#-
    The seed materialization on DuckDB, for seeds whose every column has a declared type
    (`column_types`): DuckDB reads the file, Python never parses it. Any other seed (or engine)
    takes dbt's own materialization.

    Why: dbt's seed materialization parses the whole file into an agate table in Python before
    loading it, only to learn the column names and infer the types of undeclared columns, even
    where dbt-duckdb then loads the rows with DuckDB's COPY. The HCUP reference (88,318 rows)
    took about 0.7 s of Python that way on every build, holding the interpreter lock that dbt's
    other thread needs (docs block `build_cost`). Here the header is read by DuckDB, the table
    is created with the declared types in the file's column order, and COPY loads the rows, as
    before.

    Same table as dbt's: same columns, order, types and rows; an existing table is dropped on a
    full refresh and emptied otherwise; hooks, grants, comments and indexes as in dbt's. The
    table dbt keeps for `dbt seed --show` is a random sample of 10 rows read back from DuckDB.
-#}
{%- materialization seed, adapter='duckdb' -%}

    {%- set column_types = config.get('column_types') or {} -%}
    {%- set delimiter = config.get('delimiter', ',') -%}
    {%- set seed_path = adapter.get_seed_file_path(model) -%}
    {%- set csv_options = 'header = true, all_varchar = true, delim = ' ~ text_literal(delimiter) -%}

    {#- The file's header, as DuckDB reads it (it parses a sample, not the file). -#}
    {%- set header = [] -%}
    {%- if column_types -%}
        {%- set header = run_query(
            'select * from read_csv(' ~ text_literal(seed_path) ~ ', ' ~ csv_options ~ ') limit 0'
        ).column_names | list -%}
    {%- endif -%}
    {%- set undeclared = header | reject('in', column_types) | list -%}
    {%- if not header or undeclared -%}
        {{ return(dbt.materialization_seed_default()) }}
    {%- endif -%}

    {%- set identifier = model['alias'] -%}
    {%- set full_refresh_mode = should_full_refresh() -%}
    {%- set old_relation = adapter.get_relation(database=database, schema=schema, identifier=identifier) -%}
    {%- set target_relation = this.incorporate(type='table') -%}
    {%- set grant_config = config.get('grants') -%}
    {%- set quote_columns = config.get('quote_columns', none) -%}

    {{ run_hooks(pre_hooks, inside_transaction=False) }}
    {{ run_hooks(pre_hooks, inside_transaction=True) }}

    {%- if old_relation is not none and old_relation.is_view -%}
        {{ exceptions.raise_compiler_error("Cannot seed to '{}', it is a view".format(old_relation.render())) }}
    {%- endif -%}
    {%- set keep_table = old_relation is not none and not full_refresh_mode -%}
    {%- if old_relation is not none and full_refresh_mode -%}
        {%- do adapter.drop_relation(old_relation) -%}
    {%- endif -%}

    {%- set create_table_sql -%}
        create table {{ target_relation.render() }} (
            {%- for name in header %}
            {{ adapter.quote_seed_column(name, quote_columns) }} {{ column_types[name] }}{{ ',' if not loop.last }}
            {%- endfor %}
        )
    {%- endset -%}
    {%- if keep_table -%}
        {%- do truncate_relation(old_relation) -%}
    {%- else -%}
        {%- call statement('create_seed_table') -%}{{ create_table_sql }}{%- endcall -%}
    {%- endif -%}

    {#- COPY converts each text field to its column's declared type, as dbt-duckdb's load does. -#}
    {%- set copy_sql -%}
        copy {{ target_relation.render() }} from {{ text_literal(seed_path) }}
            (format csv, header true, delimiter {{ text_literal(delimiter) }})
    {%- endset -%}
    {%- call statement('load_seed', fetch_result=True) -%}{{ copy_sql }}{%- endcall -%}
    {%- set rows_affected = load_result('load_seed')['table'].rows[0][0] -%}

    {%- set code = 'CREATE' if full_refresh_mode else 'INSERT' -%}
    {%- call noop_statement('main', code ~ ' ' ~ rows_affected, code, rows_affected) -%}
        {{ create_table_sql }};
        {{ copy_sql }};
    {%- endcall -%}
    {%- set sample = run_query('select * from ' ~ target_relation.render() ~ ' using sample 10 rows') -%}
    {%- do store_result('agate_table', response='OK', agate_table=sample) -%}

    {%- set should_revoke = should_revoke(old_relation, full_refresh_mode) -%}
    {%- do apply_grants(target_relation, grant_config, should_revoke=should_revoke) -%}
    {%- do persist_docs(target_relation, model) -%}
    {%- if full_refresh_mode or old_relation is none -%}
        {%- do create_indexes(target_relation) -%}
    {%- endif -%}

    {{ run_hooks(post_hooks, inside_transaction=True) }}
    {{ adapter.commit() }}
    {{ run_hooks(post_hooks, inside_transaction=False) }}

    {{ return({'relations': [target_relation]}) }}

{%- endmaterialization -%}
