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
