{#-
    A bound of the 95 % confidence interval of a probability p with standard error se, on the
    log(-log) scale (docs block `return_curve_confidence_interval`): p ** exp(-/+ z se / (p ln p)).
    NULL when se is NULL (the variance is undefined once a day has left no one at risk), else
    0 when p is 0 (nothing has happened yet: the interval is the point) and 1 when p is 1.
-#}
{% macro loglog_confidence_bound(p, se, side) -%}
    {%- if side not in ('lower', 'upper') -%}
        {{ exceptions.raise_compiler_error("loglog_confidence_bound: side must be 'lower' or 'upper'") }}
    {%- endif -%}
    case
        when ({{ se }}) is null then null
        when ({{ p }}) = 0 then 0
        when ({{ p }}) = 1 then 1
        else power(
            ({{ p }}),
            exp({{ '-' if side == 'lower' else '' }}{{ normal_quantile_95() }} * ({{ se }}) / (({{ p }}) * ln({{ p }})))
        )
    end
{%- endmacro %}
