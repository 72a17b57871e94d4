{#-
    The clustering inputs: the features the catalogue (feature_catalogue(), from
    seeds/features/feature_catalogue.csv) marks is_clustered, in catalogue order, followed by
    the demographic encodings when var `cluster_include_demographics` is true. Var
    `cluster_features` (a list, or a comma-separated string on the command line), empty by
    default, overrides the catalogue's choice for an experiment. Shared by the inputs model
    and the SQL scoring model so both see the same columns.
-#}
{% macro cluster_feature_names() %}
    {%- set configured = var('cluster_features', none) -%}
    {%- if configured is string -%}
        {%- set configured = configured.split(',') -%}
    {%- endif -%}
    {%- if not configured -%}
        {%- set configured = [] -%}
        {%- for feature in feature_catalogue() if feature.is_clustered -%}
            {%- do configured.append(feature.feature_name) -%}
        {%- endfor -%}
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
    The features `segment_profiles` summarises: those the feature catalogue marks is_profiled,
    in catalogue order. `numeric` features get a mean, median and z-score; `flags` (yes/no) get
    a rate (the share of the segment's patients with the flag, NULLs left out).
-#}
{% macro segment_profile_features() %}
    {%- set numeric = [] -%}
    {%- set flags = [] -%}
    {%- for feature in feature_catalogue() if feature.is_profiled -%}
        {%- do (flags if feature.kind == 'flag' else numeric).append(feature.feature_name) -%}
    {%- endfor -%}
    {{ return({
        'numeric': numeric,
        'flags': flags,
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
    The columns a model generates from the feature catalogue rather than declares in YAML,
    with their type ('' = any) and description: the clustering inputs of
    int_patients_prepared_for_segmentation, the standardized inputs (scaled_<feature>) of
    patient_clusters, and the <statistic>_<feature> columns of segment_profiles_wide (whose
    other columns are those of `segments`, described there). Read by the contract test
    (unenforced_contract) and by the comment post-hook, so a new feature needs no YAML.
-#}
{% macro generated_columns(model_name) %}
    {%- set columns = {} -%}
    {#- the demographic encodings are inputs-model columns, not catalogue features -#}
    {%- set labels = {
        'age_years': 'demographic input: age at the last admission',
        'is_female': 'demographic input: 1 when the recorded gender is F, else 0',
    } -%}
    {%- for feature in feature_catalogue() -%}
        {%- do labels.update({feature.feature_name: feature.label}) -%}
    {%- endfor -%}
    {%- if model_name == 'int_patients_prepared_for_segmentation' -%}
        {%- for name in cluster_feature_names() -%}
            {%- do columns.update({name: {'data_type': '', 'description': 'Clustering input `' ~ name ~ '` (' ~ labels.get(name, 'demographic encoding') ~ '), as in patient_features.'}}) -%}
        {%- endfor -%}
    {%- elif model_name == 'patient_clusters' -%}
        {%- for name in cluster_feature_names() -%}
            {%- do columns.update({'scaled_' ~ name: {'data_type': 'double precision', 'description': '`' ~ name ~ '` (' ~ labels.get(name, 'demographic encoding') ~ ') as clustered: transformed (segment_centroids.transform), then standardized.'}}) -%}
        {%- endfor -%}
    {%- elif model_name == 'segment_profiles_wide' -%}
        {%- set meaning = {
            'mean': 'Mean of `{}` ({}) over the segment\'s patients.',
            'median': 'Median of `{}` ({}) over the segment\'s patients.',
            'zscore': 'Z-score of the segment\'s mean of `{}` ({}) on the clustering population\'s scale.',
            'rate': 'Share of the segment\'s patients with `{}` ({}) true, NULLs left out.',
        } -%}
        {%- for feature, statistic in segment_profile_cells() -%}
            {%- do columns.update({statistic ~ '_' ~ feature: {'data_type': 'double precision', 'description': meaning[statistic].format(feature, labels.get(feature, feature)) ~ ' From segment_profiles.'}}) -%}
        {%- endfor -%}
    {%- endif -%}
    {{ return(columns) }}
{% endmacro %}


{#-
    Post-hook of the models with generated columns (patient_clusters, segment_profiles_wide):
    they have no YAML for persist_docs to write, so this writes each one's description
    (generated_columns()) as a column comment; for segment_profiles_wide the columns it copies
    from `segments` take that model's descriptions. DuckDB and PostgreSQL only (the engines
    with COMMENT ON COLUMN); elsewhere it does nothing.
-#}
{% macro comment_generated_columns() %}
    {%- if adapter.type() not in ['duckdb', 'postgres'] or not execute -%}
        {{ return('select 1') }}
    {%- endif -%}
    {%- set described = {} -%}
    {%- if this.identifier == 'segment_profiles_wide' -%}
        {%- for node in graph.nodes.values() if node.resource_type == 'model' and node.name == 'segments' -%}
            {%- for name, column in node.columns.items() -%}
                {#- as a tooltip, as the BI marts' own comments (macro persist_tooltips) -#}
                {%- do described.update({name: tooltip(column.description)}) -%}
            {%- endfor -%}
        {%- endfor -%}
    {%- endif -%}
    {%- for name, column in generated_columns(this.identifier).items() -%}
        {%- do described.update({name: column.description}) -%}
    {%- endfor -%}
    {%- set statements = [] -%}
    {%- for name, text in described.items() -%}
        {%- do statements.append("comment on column " ~ this ~ "." ~ adapter.quote(name) ~ " is '" ~ (text | replace("'", "''")) ~ "'") -%}
    {%- endfor -%}
    {{ return(statements | join(';\n') if statements else 'select 1') }}
{% endmacro %}

