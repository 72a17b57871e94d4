-- The macro feature_catalogue(), which dbt reads at parse time, is generated from the seed
-- feature_catalogue by `make data` (python -m mimic_segments.catalogue.features). Returns every feature
-- on which the two disagree, and what to run: an edited CSV whose macro was not regenerated
-- fails the build here instead of clustering on the old catalogue.
with

seed as (

    select
        catalogue_order,
        feature_name,
        label,
        unit,
        dimension,
        kind,
        is_clustered,
        is_log1p,
        is_profiled,
        never_admitted_value
    from {{ ref('feature_catalogue') }}

),

generated as (

    {%- for feature in feature_catalogue() %}
    {%- if not loop.first %}
    union all
    {%- endif %}
    select
        {{ feature.catalogue_order }} as catalogue_order,
        '{{ feature.feature_name }}' as feature_name,
        '{{ feature.label | replace("'", "''") }}' as feature_label,
        '{{ feature.unit | replace("'", "''") }}' as unit,
        '{{ feature.dimension }}' as dimension,
        '{{ feature.kind }}' as kind,
        {{ feature.is_clustered }} as is_clustered,
        {{ feature.is_log1p }} as is_log1p,
        {{ feature.is_profiled }} as is_profiled,
        '{{ feature.never_admitted_value | replace("'", "''") }}' as never_admitted_value
    {%- endfor %}

)

select
    coalesce(seed.feature_name, generated.feature_name) as feature_name,
    'macros/generated/feature_catalogue.sql is stale: run make data' as fix
from seed
full outer join generated on seed.feature_name = generated.feature_name
where
    seed.feature_name is null
    or generated.feature_name is null
    or seed.catalogue_order <> generated.catalogue_order
    or seed.label <> generated.feature_label
    or seed.unit <> generated.unit
    or seed.dimension <> generated.dimension
    or seed.kind <> generated.kind
    or seed.is_clustered <> generated.is_clustered
    or seed.is_log1p <> generated.is_log1p
    or seed.is_profiled <> generated.is_profiled
    or seed.never_admitted_value <> generated.never_admitted_value
