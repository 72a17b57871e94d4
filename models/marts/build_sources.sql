{#-
    One row per MIMIC-IV table the build read: the file, its size and SHA-256, and the rows
    staging holds. A release's files are hashed as read (DuckDB's read_blob); the demo's come
    from the data step's verified manifest, seeds/mimic_demo/.manifest.json.
-#}
{%- set release = var('mimic_source_mode', 'demo_seeds') == 'release' -%}
{%- set tables = ['patients', 'admissions', 'diagnoses_icd', 'd_icd_diagnoses', 'icustays'] -%}

with

{% if release -%}
files as (
    {%- for table in tables %}
    select
        '{{ table }}' as source_table,
        filename as source_file,
        cast(size as bigint) as size_bytes,
        sha256(content) as sha256
    from read_blob('{{ mimic_source_file(table) | replace("'", "''") }}')
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
),
{%- else -%}
manifest as (
    select content as manifest_json
    from read_text('seeds/mimic_demo/.manifest.json')
),

files as (
    {%- for table in tables %}
    select
        '{{ table }}' as source_table,
        'seeds/mimic_demo/{{ table }}.csv (from '
        || (manifest_json ->> '$.tables."{{ table }}.csv".source') || ')' as source_file,
        cast(manifest_json ->> '$.tables."{{ table }}.csv".csv_bytes' as bigint) as size_bytes,
        manifest_json ->> '$.tables."{{ table }}.csv".csv_sha256' as sha256
    from manifest
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
),
{%- endif %}

row_counts as (
    {%- for table in tables %}
    select
        '{{ table }}' as source_table,
        count(*) as staged_rows
    from {{ ref('stg_mimic__' ~ table) }}
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
)

select
    files.source_table,
    files.source_file,
    files.size_bytes,
    files.sha256,
    row_counts.staged_rows
from files
inner join row_counts on files.source_table = row_counts.source_table
