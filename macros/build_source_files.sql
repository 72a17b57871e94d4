{#-
    The `files` rows of build_sources: one per MIMIC-IV table, with the file read, its size in
    bytes and its SHA-256.
    - DuckDB: a release's files are hashed as read (read_blob); the demo's come from the data
      step's verified manifest, seeds/mimic_demo/.manifest.json (read_text).
    - Other engines cannot read files on the machine running dbt, and warehouse mode reads no
      file on any engine: the row names the relation read and leaves size and hash NULL
      (build_sources documents it).
-#}
{% macro build_source_files(tables) -%}
    {{ return(adapter.dispatch('build_source_files', 'mimic_segments')(tables)) }}
{%- endmacro %}

{% macro default__build_source_files(tables) -%}
    {%- for table in tables %}
    select
        '{{ table }}' as source_table,
        '{{ mimic_table(table) | replace('"', '') | replace('`', '') }}' as source_file,
        cast(null as bigint) as size_bytes,
        cast(null as {{ dbt.type_string() }}) as sha256
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
{%- endmacro %}

{% macro duckdb__build_source_files(tables) -%}
    {%- if var('mimic_source_mode', 'demo_seeds') == 'warehouse' -%}
    {{ default__build_source_files(tables) }}
    {%- elif var('mimic_source_mode', 'demo_seeds') == 'release' -%}
    {%- for table in tables %}
    select
        '{{ table }}' as source_table,
        filename as source_file,
        cast(size as bigint) as size_bytes,
        sha256(content) as sha256
    from read_blob('{{ mimic_source_file(table) | replace("'", "''") }}')
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
    {%- else -%}
    {%- for table in tables %}
    select
        '{{ table }}' as source_table,
        'seeds/mimic_demo/{{ table }}.csv (from '
        || (manifest.content ->> '$.tables."{{ table }}.csv".source') || ')' as source_file,
        cast(manifest.content ->> '$.tables."{{ table }}.csv".csv_bytes' as bigint) as size_bytes,
        manifest.content ->> '$.tables."{{ table }}.csv".csv_sha256' as sha256
    from read_text('seeds/mimic_demo/.manifest.json') as manifest
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
    {%- endif -%}
{%- endmacro %}
