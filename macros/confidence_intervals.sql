{#- The standard normal quantile of a two-sided 95 % interval, scipy.stats.norm.ppf(0.975):
    the z of every 95 % interval in the project. -#}
{% macro normal_quantile_95() -%}
    1.959963984540054
{%- endmacro %}


{#- A bound of the Wilson score interval (95 %) of a proportion p observed on n patients:
    (p + z^2/2n -/+ z sqrt(p(1 - p)/n + z^2/4n^2)) / (1 + z^2/n), held within [0, 1] (at p = 0
    the lower bound is 0 in exact arithmetic, a rounding error below it in floating point). -#}
{% macro wilson_bound(p, n, side) -%}
    {%- if side not in ('lower', 'upper') -%}
        {{ exceptions.raise_compiler_error("wilson_bound: side must be 'lower' or 'upper'") }}
    {%- endif -%}
    {%- set z = normal_quantile_95() -%}
    greatest(least((
        ({{ p }}) + {{ z }} * {{ z }} / (2.0 * ({{ n }}))
        {{ '-' if side == 'lower' else '+' }} {{ z }} * sqrt(
            ({{ p }}) * (1 - ({{ p }})) / ({{ n }}) + {{ z }} * {{ z }} / (4.0 * ({{ n }}) * ({{ n }}))
        )
    ) / (1 + {{ z }} * {{ z }} / ({{ n }})), 1), 0)
{%- endmacro %}
