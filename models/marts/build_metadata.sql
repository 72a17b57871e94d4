{#-
    One row: the build that produced every table of this database file (marts, intermediate,
    staging are published together, atomically, by `mimic_segments.publishing.publish`). BI tools
    cross join it to label a dashboard with its build. `build_finished_at` is set by the
    on-run-end hook `record_build_finished()` once every model and test of the build has run.
    project_version is this dbt project's `version:` (dbt_project.yml, the same as pyproject.toml's)
    on every target. git_commit comes from the publisher (`make build`), which reads it from git;
    a build without it (dbt by hand on the dev target) says which target built the file instead.
-#}
{%- set git_commit = env_var(
    'MIMIC_SEGMENTS_GIT_COMMIT', 'not recorded (target ' ~ target.name ~ ', built without the publisher)'
) -%}
{%- set shaping_vars = {} -%}
{%- for name in [
    'mimic_source_mode', 'mimic_release_format', 'mimic_last_data_year', 'readmission_definition',
    'episode_max_gap_hours', 'frequent_ed_visits_per_year', 'return_curve_horizon_days',
    'outreach_recent_days', 'outreach_max_priority', 'readmission_window_days',
    'clustering_population_min_admissions', 'persona_min_match_score',
    'cluster_features', 'cluster_include_demographics',
    'cluster_k', 'cluster_k_min', 'cluster_k_max', 'cluster_random_state', 'cluster_diagnostics_sample_size',
    'cluster_silhouette_sample_size', 'cluster_stability_resamples', 'cluster_min_stability',
    'cluster_min_segment_share', 'segment_top_diagnoses_limit',
    'dq_min_diagnoses_per_admission', 'dq_diagnoses_per_admission', 'dq_admissions_per_patient',
    'dq_icustays_per_admission', 'dq_share_of_patients_admitted', 'dq_max_hospital_stay_days',
    'dq_warn_hospital_stay_days', 'dq_max_icu_stay_days', 'dq_warn_icu_stay_days', 'dq_max_age_years',
    'quarantine_row_defects', 'feature_index', 'prospective_window_days'
] -%}
{%- do shaping_vars.update({name: var(name, none)}) -%}
{%- endfor -%}
{%- set mode = var('mimic_source_mode', 'demo_seeds') -%}
{%- if mode == 'release' -%}
{%- set source_release = var('mimic_release_dir', '') or env_var('MIMIC_RELEASE_DIR', '') -%}
{%- elif mode == 'warehouse' -%}
{#- the two schemas read, as <database>.<schema> -#}
{%- set hosp = source('mimic_warehouse_hosp', 'patients') -%}
{%- set icu = source('mimic_warehouse_icu', 'icustays') -%}
{%- set source_release = hosp.database ~ '.' ~ hosp.schema ~ ', ' ~ icu.database ~ '.' ~ icu.schema -%}
{%- else -%}
{%- set source_release = 'mimic-iv-demo/2.2 (seeds/mimic_demo/.manifest.json)' -%}
{%- endif -%}

select
    '{{ invocation_id }}' as build_id,
    cast('{{ run_started_at.strftime("%Y-%m-%d %H:%M:%S") }}' as timestamp) as build_started_at,
    cast(null as timestamp) as build_finished_at,
    '{{ var("mimic_source_mode", "demo_seeds") }}' as source_mode,
    '{{ source_release | replace("'", "''") }}' as source_release,
    '{{ tojson(shaping_vars) | replace("'", "''") }}' as result_vars_json,
    '{{ adapter.config.version }}' as project_version,
    '{{ git_commit }}' as git_commit,
    '{{ dbt_version }}' as dbt_version
