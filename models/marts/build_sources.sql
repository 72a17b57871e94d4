{#-
    One row per MIMIC-IV table the build read: the file, its size and SHA-256, and the rows
    staging holds. Where the files come from is engine-specific (macro build_source_files:
    DuckDB reads them; other engines name the relation read and leave size and hash empty).
-#}
{%- set tables = mimic_tables().keys() | list -%}

with

files as (
    {{ build_source_files(tables) }}
),

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
    row_counts.staged_rows as num_staged_rows
from files
inner join row_counts on files.source_table = row_counts.source_table
