{#-
    Whether dbt runs this project's Python models (the segmentation fit) on the target's
    adapter. True on DuckDB; elsewhere false until an adapter's Python models are tested here.
    Where it is false, `make build-postgres` fits the same model outside dbt
    (mimic_segments.segmentation.warehouse) and writes it to the Python models' own relations.
-#}
{% macro runs_python_models() -%}
    {{ return(adapter.dispatch('runs_python_models', 'mimic_segments')()) }}
{%- endmacro %}

{% macro default__runs_python_models() -%}
    {{ return(false) }}
{%- endmacro %}

{% macro duckdb__runs_python_models() -%}
    {{ return(true) }}
{%- endmacro %}


{#-
    The patient-level segment assignment (subject_id, cluster_id, distance_to_centroid), the
    one indirection the segment marts read it through: the Python scorer patient_clusters where
    dbt runs Python models, else the SQL scorer patient_nearest_centroid, which a test holds to
    the same answer for every patient.
-#}
{% macro segment_assignment() -%}
    {%- if runs_python_models() -%}
        {{ return(ref('patient_clusters')) }}
    {%- else -%}
        {{ return(ref('patient_nearest_centroid')) }}
    {%- endif -%}
{%- endmacro %}
