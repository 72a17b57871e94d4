-- MetricFlow's daily time spine (docs/metrics.md): one row per calendar day of the years
-- MIMIC-IV's shifted dates fall in, 2100 through 2229. MetricFlow joins it for time-based
-- metrics (cumulative windows, offsets, filling empty days); this project's metrics need none
-- of those, but dbt requires a spine wherever semantic models are defined. Portable SQL: dbt's
-- dispatched generate_series and dateadd, so it builds alike on DuckDB, PostgreSQL and Spark.
{%- set first_day = modules.datetime.date(2100, 1, 1) %}
{%- set num_days = (modules.datetime.date(2230, 1, 1) - first_day).days %}
with

day_offsets as (

    -- generate_series counts from 1
    select cast(generated_number - 1 as {{ dbt.type_int() }}) as day_offset
    from ({{ dbt.generate_series(num_days) }}) as series

)

select
    cast(
        {{ dbt.dateadd('day', 'day_offset', "cast('" ~ first_day.isoformat() ~ "' as date)") }} as date
    ) as date_day
from day_offsets
