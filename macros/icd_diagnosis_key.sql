{#-
    One string that identifies an ICD diagnosis: version and code together ('9:4019',
    '10:I10'). The same code string can name different conditions in ICD-9-CM and ICD-10-CM,
    so distinct counts of diagnoses must count this key, never the code alone.
-#}
{% macro icd_diagnosis_key(version_column='icd_version', code_column='icd_code') -%}
    {{ dbt.concat(["cast(" ~ version_column ~ " as " ~ dbt.type_string() ~ ")", "':'", code_column]) }}
{%- endmacro %}
