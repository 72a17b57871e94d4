{#-
    The readmission definition (var readmission_definition, docs block readmission_definition):
    'inpatient', the default, counts inpatient hospitalizations only, as CMS's readmission
    measures do; 'all_stays' counts every hospital stay, observation stays included, with no
    planned-readmission exclusion. Read here only.
-#}
{% macro readmission_definition() -%}
    {%- set definition = var('readmission_definition', 'inpatient') -%}
    {%- if definition not in ['inpatient', 'all_stays'] -%}
        {{ exceptions.raise_compiler_error(
            "var readmission_definition='" ~ definition ~ "' is not supported; expected 'inpatient' "
            ~ "(CMS: inpatient stays only, planned readmissions excluded) or 'all_stays' (every hospital stay)") }}
    {%- endif -%}
    {{ return(definition) }}
{%- endmacro %}


{#-
    Stops the build when an admission_type of the admissions read is not in the seed
    admission_type_classes: a type the project has not classified is never mapped silently.
    Runs when the model that classifies admissions runs (dbt build or run), after its parents.
-#}
{% macro assert_admission_types_classified(admissions, admission_type_classes) -%}
    {%- if execute and flags.WHICH in ['build', 'run'] and model.resource_type == 'model' -%}
        {%- set unclassified = run_query(
            'select admissions.admission_type, count(*) as admissions from ' ~ admissions ~ ' as admissions'
            ~ ' left join ' ~ admission_type_classes ~ ' as classes'
            ~ ' on admissions.admission_type = classes.admission_type'
            ~ ' where classes.admission_type is null'
            ~ ' group by admissions.admission_type order by admissions.admission_type'
        ) -%}
        {%- if unclassified.rows | length > 0 -%}
            {%- set described = [] -%}
            {%- for row in unclassified.rows -%}
                {%- do described.append("'" ~ row[0] ~ "' (" ~ row[1] ~ " admissions)") -%}
            {%- endfor -%}
            {{ exceptions.raise_compiler_error(
                "admission_type " ~ described | join(', ') ~ " in " ~ mimic_source_file('admissions')
                ~ " (column admission_type) is not in the seed admission_type_classes. Add a row for it to "
                ~ "seeds/encounters/admission_type_classes.csv with its encounter_class (one of "
                ~ "seeds/encounters/encounter_classes.csv) and the evidence for it, then build again.") }}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}
