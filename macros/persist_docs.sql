{#-
    DuckDB's table and column comments (`persist_docs`), written in one statement per relation.

    Why: on DuckDB, dbt's default `persist_docs` with dbt-duckdb's column macro reads the
    relation's columns twice (two DESCRIBE queries, each converted to an agate table) and runs
    up to four statements per model. A statement costs dbt a few milliseconds of Python (events,
    connection bookkeeping) whatever its size, and a build writes about 50 relations, so this
    overhead cost more than the comments themselves (docs block `build_cost`).

    Same result as dbt's: the model's description on the relation, each described column's
    description on the column, and described columns the relation lacks skipped with dbt's own
    warning (`validate_doc_columns`). A model under an enforced contract has exactly its
    declared columns (dbt compared them before creating it), so its columns are not read back.
    Other engines keep their adapter's `persist_docs`.
-#}
{% macro duckdb__persist_docs(relation, model, for_relation=true, for_columns=true) -%}
    {%- set statements = [] -%}
    {%- if for_relation and config.persist_relation_docs() and model.description -%}
        {%- do statements.append(duckdb__alter_relation_comment(relation, model.description) | trim) -%}
    {%- endif -%}
    {%- if for_columns and config.persist_column_docs() and model.columns -%}
        {%- set contract = config.get('contract') -%}
        {%- if contract and contract.enforced -%}
            {%- set columns = model.columns -%}
        {%- else -%}
            {%- set existing = adapter.get_columns_in_relation(relation) | map(attribute='name') | list -%}
            {%- set columns = validate_doc_columns(relation, model.columns, existing) -%}
        {%- endif -%}
        {%- for name, column in columns.items() -%}
            {%- set column_sql = adapter.quote(name) if column['quote'] else name -%}
            {%- do statements.append(
                'comment on column ' ~ relation ~ '.' ~ column_sql ~ ' is '
                ~ duckdb_escape_comment(column['description'] or '') ~ ';'
            ) -%}
        {%- endfor -%}
    {%- endif -%}
    {%- if statements -%}
        {%- do run_query(statements | join('\n')) -%}
    {%- endif -%}
{%- endmacro %}
