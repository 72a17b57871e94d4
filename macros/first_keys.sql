{#-
    An aggregate: the first `limit` values of `value` in `order_by` order, among the rows where
    `condition` holds, joined with ', ' (NULL when there are none). data_quality_checks uses it
    to name the first failing rows. Each engine has its own ordered list aggregate.
-#}
{% macro first_keys(value, order_by, condition, limit) -%}
    {{ return(adapter.dispatch('first_keys', 'mimic_segments')(value, order_by, condition, limit)) }}
{%- endmacro %}

{#- PostgreSQL (and the default): an ordered, filtered array_agg, sliced. -#}
{% macro default__first_keys(value, order_by, condition, limit) -%}
    array_to_string(
        (array_agg({{ value }} order by {{ order_by }}) filter (where {{ condition }}))[1:{{ limit }}],
        ', '
    )
{%- endmacro %}

{% macro duckdb__first_keys(value, order_by, condition, limit) -%}
    array_to_string(
        list_slice(list({{ value }} order by {{ order_by }}) filter (where {{ condition }}), 1, {{ limit }}),
        ', '
    )
{%- endmacro %}

{#- Spark: collect (key, value) pairs, sort them by key, keep the values of the first few. -#}
{% macro spark__first_keys(value, order_by, condition, limit) -%}
    nullif(array_join(transform(
        slice(array_sort(collect_list(
            case when {{ condition }} then named_struct('k', {{ order_by }}, 'v', {{ value }}) end
        )), 1, {{ limit }}),
        pair -> pair.v
    ), ', '), '')
{%- endmacro %}
