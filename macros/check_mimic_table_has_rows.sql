{#-
    A MIMIC-IV table with no rows stops the build at its staging model, naming the file.

    Run as the pre-hook of every staging model (dbt_project.yml): before the model reads its
    MIMIC-IV table, one `limit 1` query asks whether the table has a row, in any mode (the
    demo seed, the release's file read in place, the warehouse table) and on any engine. A
    table without rows (a file holding only its header) fails the staging model with the
    table's file and "no rows", so every test and model that reads it is skipped: the build
    does not go on to fail contract tests two tables away. Models that are not the staging
    model of one of the tables of mimic_tables() (the quarantine) are left alone.
-#}
{% macro check_mimic_table_has_rows(model_name) %}
    {%- set table_name = model_name | replace('stg_mimic__', '', 1) -%}
    {%- if not model_name.startswith('stg_mimic__') or table_name not in mimic_tables() -%}
        {{ return('') }}
    {%- endif -%}
    {#- rendered at parse time too, so that dbt sees the relation the check reads -#}
    {%- set relation = mimic_table(table_name) -%}
    {%- if execute -%}
        {%- set found = run_query('select 1 as found from ' ~ relation ~ ' limit 1') -%}
        {%- if found.rows | length == 0 -%}
            {{ exceptions.raise_compiler_error(
                "MIMIC-IV table " ~ table_name ~ " has no rows: " ~ mimic_source_file(table_name)
                ~ " holds no data rows (a file with only its header, or an empty table). Every model "
                ~ "reads it: replace it with the complete table and build again.") }}
        {%- endif -%}
    {%- endif -%}
    {{ return('') }}
{% endmacro %}
