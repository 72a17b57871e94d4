{#-
    post-hook of the BI marts: their database comments are the tooltips BI tools show, so each
    is the first line of the description (one sentence of at most ~200 characters, checked by
    tests/python/test_bi_surface.py), while the docs site shows the whole description with its
    docs blocks. dbt's persist_docs would write the whole text, so it is off for these models
    and the comments are written here through dbt's own `alter_relation_comment` and
    `alter_column_comment`.
-#}
{% macro persist_tooltips() %}
    {{ return(adapter.dispatch('persist_tooltips', 'mimic_segments')()) }}
{% endmacro %}

{% macro default__persist_tooltips() %}
    {#- only the BI schema: hooks add up by folder, so the segmentation models inherit this one -#}
    {%- if not execute or this.schema != generate_schema_name('marts', none) -%}
        {{ return('') }}
    {%- endif -%}
    {#- the relation as the database holds it (a hook's `this` carries no table/view type) -#}
    {%- set relation = adapter.get_relation(this.database, this.schema, this.identifier) -%}
    {%- if model.description -%}
        {%- do run_query(alter_relation_comment(relation, tooltip(model.description))) -%}
    {%- endif -%}
    {%- set columns = {} -%}
    {%- for name, column in model.columns.items() if column.description -%}
        {%- do columns.update({name: {
            'name': name, 'description': tooltip(column.description), 'quote': column.quote
        }}) -%}
    {%- endfor -%}
    {%- set comment_sql = alter_column_comment(relation, columns) if columns else '' -%}
    {%- if comment_sql | trim -%}
        {%- do run_query(comment_sql) -%}
    {%- endif -%}
    {{ return('') }}
{% endmacro %}

{#- Spark keeps no comment on a Parquet table (dbt-spark comments Delta, Hudi and Iceberg only). -#}
{% macro spark__persist_tooltips() %}
    {{ return('') }}
{% endmacro %}

{#- The tooltip of a description: its first line (YAML's folded `>` joins a paragraph's lines). -#}
{% macro tooltip(description) %}
    {{ return((description | trim).split('\n')[0] | trim) }}
{% endmacro %}
