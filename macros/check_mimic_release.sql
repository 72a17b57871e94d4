{#-
    Pre-flight check of a MIMIC-IV release, run as the project's on-run-start hook.

    In `release` mode the staging models read the release's files with explicit column types
    and the CSV sniffer off, so a header is skipped rather than trusted: a file with a missing,
    extra or reordered column would load shifted values under the wrong names. This check runs
    before any model and fails the whole invocation with a message naming the file and what
    was expected when the directory is unset or not the official layout, a table's file is
    missing, or its columns differ from those the source declares. It reads only each file's
    first line (CSV) or its schema (Parquet), in two queries. In `demo_seeds` mode it does nothing.
-#}
{% macro check_mimic_release() %}
    {%- if not execute or var('mimic_source_mode', 'demo_seeds') != 'release' -%}
        {{ return('') }}
    {%- endif -%}

    {%- set tables = graph.sources.values() | selectattr('source_name', 'equalto', 'mimic_release')
        | sort(attribute='name') | list -%}
    {%- set release_dir = (tables[0].meta.release_dir if tables else '') | trim -%}
    {%- set release_format = tables[0].meta.release_format if tables else 'csv' -%}
    {%- set extension = {'csv': '.csv.gz', 'parquet': '.parquet'}.get(release_format) -%}

    {%- if not release_dir -%}
        {{ exceptions.raise_compiler_error(
            "mimic_source_mode is 'release' but no release directory is set. Point the project at a "
            ~ "MIMIC-IV release in its official layout (<dir>/hosp/*.csv.gz, <dir>/icu/*.csv.gz) with "
            ~ "--vars '{mimic_release_dir: /path/to/mimiciv/3.1}' or the MIMIC_RELEASE_DIR environment variable.") }}
    {%- endif -%}
    {%- if extension is none -%}
        {{ exceptions.raise_compiler_error(
            "var mimic_release_format='" ~ release_format ~ "' is not supported; expected 'csv' (the official "
            ~ "<module>/<table>.csv.gz files) or 'parquet' (<module>/<table>.parquet copies)") }}
    {%- endif -%}

    {#- paths for messages, and the same as SQL string literal contents (quotes doubled) -#}
    {%- set paths = {} -%}
    {%- set sql_paths = {} -%}
    {%- for table in tables -%}
        {%- do paths.update({table.name: release_dir ~ '/' ~ table.meta.module ~ '/' ~ table.identifier ~ extension}) -%}
        {%- do sql_paths.update({table.name: paths[table.name] | replace("'", "''")}) -%}
    {%- endfor -%}

    {#- 1. Layout: every table's file exists where the official layout puts it (one query). -#}
    {%- set exists_sql -%}
        {%- for table in tables %}
        select '{{ table.name }}' as table_name, (select count(*) from glob('{{ sql_paths[table.name] }}')) as files
        {% if not loop.last %}union all{% endif %}
        {%- endfor %}
    {%- endset -%}
    {%- set found = {} -%}
    {%- for row in run_query(exists_sql) -%}
        {%- do found.update({row[0]: row[1]}) -%}
    {%- endfor -%}
    {%- set missing = [] -%}
    {%- for table in tables if found[table.name] == 0 -%}
        {%- do missing.append(paths[table.name]) -%}
    {%- endfor -%}
    {%- if missing -%}
        {%- set present = run_query(
            "select file from glob('" ~ release_dir | replace("'", "''") ~ "/*') union all select file from glob('"
            ~ release_dir | replace("'", "''") ~ "/*/*') order by file limit 20").columns[0].values() -%}
        {{ exceptions.raise_compiler_error(
            "MIMIC-IV release at '" ~ release_dir ~ "' does not have the expected layout: missing "
            ~ missing | join(', ') ~ ". Expected one " ~ extension ~ " file per table under hosp/ and icu/ "
            ~ "(mimic_release_format=" ~ release_format ~ "). Found: "
            ~ (present | join(', ') if present else 'no files') ~ ".") }}
    {%- endif -%}

    {#- 2. Columns: each file names exactly the declared columns (CSV: in order, as the reader
        assumes; one query reads every header line, or every Parquet schema). -#}
    {%- set columns_sql -%}
        {%- for table in tables %}
        {%- if release_format == 'csv' %}
        select '{{ table.name }}' as table_name, (
            select header_line from read_csv('{{ sql_paths[table.name] }}', header = false, auto_detect = false,
                columns = {'header_line': 'VARCHAR'}, delim = '	', quote = '', escape = '', strict_mode = false)
            limit 1
        ) as header_line
        {%- else %}
        select '{{ table.name }}' as table_name, (
            select string_agg(column_name, ',') from (describe select * from read_parquet('{{ sql_paths[table.name] }}'))
        ) as header_line
        {%- endif %}
        {% if not loop.last %}union all{% endif %}
        {%- endfor %}
    {%- endset -%}
    {%- set headers = {} -%}
    {%- for row in run_query(columns_sql) -%}
        {%- do headers.update({row[0]: row[1] or ''}) -%}
    {%- endfor -%}
    {%- for table in tables -%}
        {%- set path = paths[table.name] -%}
        {%- set expected = fromyaml(table.meta.columns).keys() | list -%}
        {%- set actual = [] -%}
        {%- for name in headers[table.name].split(',') if name | trim -%}
            {%- do actual.append(name | trim | replace('"', '') | lower) -%}
        {%- endfor -%}
        {%- set matches = (actual == expected) if release_format == 'csv' else ((actual | sort) == (expected | sort)) -%}
        {%- if not matches -%}
            {{ exceptions.raise_compiler_error(
                "MIMIC-IV file '" ~ path ~ "' does not have the columns of " ~ table.meta.module ~ "/"
                ~ table.identifier ~ ". Expected" ~ (" (in this order)" if release_format == 'csv' else '') ~ ": "
                ~ expected | join(', ') ~ ". Found: " ~ (actual | join(', ') if actual else 'no header') ~ ". Missing: "
                ~ (expected | reject('in', actual) | join(', ') or 'none') ~ ". Unexpected: "
                ~ (actual | reject('in', expected) | join(', ') or 'none') ~ ".") }}
        {%- endif -%}
    {%- endfor -%}

    {{ log("MIMIC-IV release at " ~ release_dir ~ ": " ~ tables | length ~ " tables (" ~ release_format
        ~ "), layout and columns verified", info=true) }}
    {{ return('') }}
{% endmacro %}
