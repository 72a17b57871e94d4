{#-
    The clustering inputs, as configured: the columns of patient_features named by var
    `cluster_features` (a list, or a comma-separated string as given on the command line),
    followed by the demographic encodings when var `cluster_include_demographics` is true.
    Shared by the inputs model and the SQL scoring model so both see the same columns.
-#}
{% macro cluster_feature_names() %}
    {%- set configured = var('cluster_features') -%}
    {%- if configured is string -%}
        {%- set configured = configured.split(',') -%}
    {%- endif -%}
    {%- set names = [] -%}
    {%- for name in configured -%}
        {%- if name | trim == '' -%}
            {{ exceptions.raise_compiler_error("var cluster_features has an empty name: " ~ var('cluster_features')) }}
        {%- endif -%}
        {%- do names.append(name | trim) -%}
    {%- endfor -%}
    {%- if cluster_include_demographics() -%}
        {%- for name in cluster_demographic_feature_names() if name not in names -%}
            {%- do names.append(name) -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return(names) }}
{% endmacro %}


{#- The numeric demographic encodings int_patients_prepared_for_segmentation can add. -#}
{% macro cluster_demographic_feature_names() %}
    {{ return(['age_years', 'is_female']) }}
{% endmacro %}


{#- var `cluster_include_demographics` as a boolean (it may arrive as the text 'true'). -#}
{% macro cluster_include_demographics() %}
    {{ return(var('cluster_include_demographics') | string | lower in ['true', '1', 'yes']) }}
{% endmacro %}


{#-
    The clustering population, defined once: the patients K-Means is fitted on and scores.
    A patient belongs when they have at least var `clustering_population_min_admissions`
    (default 1) hospital admissions in `hosp.admissions`; everyone else in `hosp.patients` is
    placed in the catalogue's rule-defined segment. Applied in one model only,
    `int_patients_classified_by_population`; see the docs block `clustering_population`.
-#}
{% macro in_clustering_population(num_admissions_column) %}
    {%- set minimum = var('clustering_population_min_admissions') | int -%}
    {%- if minimum < 1 -%}
        {{ exceptions.raise_compiler_error("var clustering_population_min_admissions must be at least 1 (patients without an admission have no hospital-use features to cluster), got " ~ var('clustering_population_min_admissions')) }}
    {%- endif -%}
    {{ num_admissions_column }} >= {{ minimum }}
{%- endmacro %}


{#- The segment key of a clustered segment: 'cluster_<cluster_id>' (rule-defined segments use
    their catalogue persona_key). One spelling for every segment mart. -#}
{% macro clustered_segment_key(cluster_id_column) %}
    {{- dbt.concat(["'cluster_'", dbt.safe_cast(cluster_id_column, dbt.type_string())]) -}}
{%- endmacro %}


{#-
    The features `segment_profiles` summarises, one list for the long table and its wide view:
    `numeric` features get a mean, median and z-score; `flags` (yes/no) get a rate (the share
    of the segment's patients with the flag, NULLs left out).
-#}
{% macro segment_profile_features() %}
    {{ return({
        'numeric': [
            'num_admissions',
            'avg_length_of_stay_days',
            'total_length_of_stay_days',
            'days_since_last_admission',
            'emergency_admission_share',
            'ed_visit_count',
            'readmissions_30d',
            'median_days_between_admissions',
            'num_unique_icd_diagnoses',
            'charlson_comorbidity_index',
            'charlson_condition_score',
            'num_chronic_conditions',
            'chronic_determination_coverage',
            'icu_stay_count',
            'total_icu_days',
            'age_at_last_admission',
        ],
        'flags': [
            'has_chronic_condition',
            'in_hospital_death',
            'died_within_1y_of_last_discharge',
        ],
        'numeric_statistics': ['mean', 'median', 'zscore'],
        'flag_statistics': ['rate'],
    }) }}
{% endmacro %}


{#- Every (feature, statistic) pair segment_profiles holds, in order: the rows of one segment
    in the long table, the generated columns <statistic>_<feature> of the wide one. -#}
{% macro segment_profile_cells() %}
    {%- set profile = segment_profile_features() -%}
    {%- set cells = [] -%}
    {%- for feature in profile.numeric -%}
        {%- for statistic in profile.numeric_statistics -%}
            {%- do cells.append((feature, statistic)) -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- for flag in profile.flags -%}
        {%- for statistic in profile.flag_statistics -%}
            {%- do cells.append((flag, statistic)) -%}
        {%- endfor -%}
    {%- endfor -%}
    {{ return(cells) }}
{% endmacro %}


{#-
    Post-hook of segment_profiles_wide: its columns are generated, so they have no YAML to be
    persisted from. This writes each one's description as a column comment, as persist_docs
    does for the other marts: the columns it copies from `segments` take that model's
    descriptions, each <statistic>_<feature> column says what it holds. DuckDB and PostgreSQL
    only (the engines with COMMENT ON COLUMN); elsewhere it does nothing.
-#}
{% macro comment_segment_profile_columns() %}
    {%- if adapter.type() not in ['duckdb', 'postgres'] or not execute -%}
        {{ return('select 1') }}
    {%- endif -%}
    {%- set described = {} -%}
    {%- for node in graph.nodes.values() if node.resource_type == 'model' and node.name == 'segments' -%}
        {%- for name, column in node.columns.items() -%}
            {%- do described.update({name: column.description}) -%}
        {%- endfor -%}
    {%- endfor -%}
    {%- set meaning = {
        'mean': 'Mean of `{}` over the segment\'s patients.',
        'median': 'Median of `{}` over the segment\'s patients.',
        'zscore': 'Z-score of the segment\'s mean of `{}` on the clustering population\'s scale.',
        'rate': 'Share of the segment\'s patients with `{}` true (NULLs left out).',
    } -%}
    {%- for feature, statistic in segment_profile_cells() -%}
        {%- do described.update({statistic ~ '_' ~ feature: meaning[statistic].format(feature) ~ ' From segment_profiles.'}) -%}
    {%- endfor -%}
    {%- set statements = [] -%}
    {%- for name, text in described.items() -%}
        {%- do statements.append("comment on column " ~ this ~ "." ~ adapter.quote(name) ~ " is '" ~ (text | replace("'", "''")) ~ "'") -%}
    {%- endfor -%}
    {{ return(statements | join(';\n')) }}
{% endmacro %}
