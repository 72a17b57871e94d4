{#-
    The single seam between this project and the MIMIC-IV tables.

    Every staging model reads its raw table through `mimic_table('<mimic table name>')`, so
    pointing the project at another copy of MIMIC-IV (full-size files, a warehouse) changes
    this macro's configuration, never a staging model.

    Modes (var `mimic_source_mode`):
      demo_seeds  the open 100-patient demo, loaded by `dbt seed` from seeds/mimic_demo/.
                  Returned as a ref() so that dbt orders every seed before the views that read it,
                  and a plain `dbt build` on an empty database works.
      release     a MIMIC-IV release's own files (var `mimic_release_dir`), read in place through
                  the external source `mimic_release` (models/staging/_mimic__sources.yml). The
                  on-run-start hook `check_mimic_release()` has verified the files before any
                  model runs; staging is then materialized as tables so each file is read once.
      warehouse   MIMIC-IV tables already loaded in the target's warehouse, in the schemas of
                  mimic-code's PostgreSQL build or PhysioNet's BigQuery datasets (sources
                  `mimic_warehouse_hosp` and `mimic_warehouse_icu`, one per module; vars
                  `mimic_warehouse_database`, `mimic_hosp_schema`, `mimic_icu_schema`). The
                  on-run-start hook `check_mimic_warehouse()` has verified every table, column
                  and column type before any model runs.
-#}
{#- The MIMIC-IV tables the project reads, each with the module (hosp or icu) it belongs to:
    the one list, read by mimic_table(), build_sources and data_quality_checks. -#}
{% macro mimic_tables() -%}
    {{ return({'patients': 'hosp', 'admissions': 'hosp', 'diagnoses_icd': 'hosp',
        'd_icd_diagnoses': 'hosp', 'transfers': 'hosp', 'icustays': 'icu'}) }}
{%- endmacro %}

{% macro mimic_table(table_name) -%}
    {%- set modules = mimic_tables() -%}
    {%- if table_name not in modules -%}
        {{ exceptions.raise_compiler_error(
            "mimic_table(): unknown MIMIC-IV table '" ~ table_name ~ "'; expected one of "
            ~ modules.keys() | join(', ')) }}
    {%- endif -%}
    {%- set mode = var('mimic_source_mode', 'demo_seeds') -%}
    {%- if mode == 'demo_seeds' -%}
        {{ ref(table_name) }}
    {%- elif mode == 'release' -%}
        {{ source('mimic_release', table_name) }}
    {%- elif mode == 'warehouse' -%}
        {{ source('mimic_warehouse_' ~ modules[table_name], table_name) }}
    {%- else -%}
        {{ exceptions.raise_compiler_error(
            "var mimic_source_mode='" ~ mode ~ "' is not supported; expected 'demo_seeds', 'release' or 'warehouse'") }}
    {%- endif -%}
{%- endmacro %}

{#-
    The file a MIMIC-IV table is read from, for messages and build metadata: the release's own
    file (<release dir>/<module>/<table>.csv.gz, or .parquet) in release mode, the warehouse
    relation (<database>.<schema>.<table>, unquoted) in warehouse mode, else the demo seed.
-#}
{% macro mimic_source_file(table_name) -%}
    {%- if var('mimic_source_mode', 'demo_seeds') == 'warehouse' -%}
        {{- return(mimic_table(table_name) | trim | replace('"', '') | replace('`', '')) -}}
    {%- endif -%}
    {%- set node = graph.sources.get('source.mimic_segments.mimic_release.' ~ table_name) if execute else none -%}
    {%- if node and var('mimic_source_mode', 'demo_seeds') == 'release' -%}
        {%- set extension = '.parquet' if node.meta.release_format == 'parquet' else '.csv.gz' -%}
        {{- return(node.meta.release_dir ~ '/' ~ node.meta.module ~ '/' ~ node.identifier ~ extension) -}}
    {%- endif -%}
    {{- return('seeds/mimic_demo/' ~ table_name ~ '.csv') -}}
{%- endmacro %}

{#-
    Opt-in quarantine (var `quarantine_row_defects`): a where clause that leaves out the rows of
    the admissions in stg_mimic__quarantined_admissions. Empty when quarantine is off.
-#}
{% macro without_quarantined_admissions() -%}
    {%- if var('quarantine_row_defects', false) -%}
        -- a row without an admission (an ED visit in transfers) belongs to no quarantined one
        where hadm_id is null or cast(hadm_id as bigint) not in (
            select quarantined.hadm_id from {{ ref('stg_mimic__quarantined_admissions') }} as quarantined
        )
    {%- endif -%}
{%- endmacro %}
