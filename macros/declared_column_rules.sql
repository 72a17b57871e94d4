{#-
    The row rules a column can declare in its YAML `meta`, for the test matches_declared_contract,
    which checks them all in one scan of the table. Each macro returns (column, the SQL
    condition on which a row breaks the rule, the rule as a failure message shows it). NULLs
    never break these rules: a not_null constraint says whether they are allowed.
-#}

{#- A declared accepted_range as (column, SQL condition of a breaking row, description). -#}
{% macro accepted_range_rule(name, bounds) %}
    {%- set column = adapter.quote(name) -%}
    {%- set outside = [] -%}
    {%- set described = [] -%}
    {%- if bounds.get('min_value') is not none -%}
        {%- do outside.append(column ~ ' < ' ~ bounds['min_value']) -%}
        {%- do described.append('>= ' ~ bounds['min_value']) -%}
    {%- endif -%}
    {%- if bounds.get('max_value') is not none -%}
        {%- do outside.append(column ~ ' > ' ~ bounds['max_value']) -%}
        {%- do described.append('<= ' ~ bounds['max_value']) -%}
    {%- endif -%}
    {%- do return((name, column ~ ' is not null and (' ~ (outside | join(' or ') or '1 = 0') ~ ')', described | join(' and '))) -%}
{% endmacro %}


{#- A declared accepted_values as (column, SQL condition of a breaking row, description). -#}
{% macro accepted_values_rule(name, spec) %}
    {%- set literals = [] -%}
    {%- for value in spec['values'] -%}
        {%- if spec.get('quote', true) and value is string -%}
            {%- do literals.append("'" ~ value | replace("'", "''") ~ "'") -%}
        {%- else -%}
            {%- do literals.append(value | string) -%}
        {%- endif -%}
    {%- endfor -%}
    {%- set listed = literals | join(', ') -%}
    {%- do return((name, adapter.quote(name) ~ ' is not null and ' ~ adapter.quote(name) ~ ' not in (' ~ listed ~ ')', 'in (' ~ listed ~ ')')) -%}
{% endmacro %}
