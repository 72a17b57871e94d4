-- The return curves to read: those of the primary end-of-data assumption only (`earliest`).
-- segment_return_curves holds three assumptions, so a chart that forgets to filter
-- is_primary_assumption draws every curve three times; BI reads this table instead. Its
-- columns are segment_return_curves' (is_primary_assumption always true), so a query written
-- for one runs on the other.
with

primary_curves as (

    select
        end_of_data_assumption,
        is_primary_assumption,
        segment_key,
        segment_name,
        follow_up_day,
        num_patients_indexed,
        num_at_risk,
        num_returned,
        num_died,
        num_censored,
        num_returned_cumulative,
        num_died_cumulative,
        num_censored_cumulative,
        cumulative_incidence_return,
        cumulative_incidence_return_se,
        cumulative_incidence_return_lower,
        cumulative_incidence_return_upper,
        cumulative_incidence_death,
        cumulative_incidence_death_se,
        cumulative_incidence_death_lower,
        cumulative_incidence_death_upper,
        km_return_probability_death_censored,
        km_return_probability_death_censored_se,
        km_return_probability_death_censored_lower,
        km_return_probability_death_censored_upper
    from {{ ref('segment_return_curves') }}
    where is_primary_assumption

)

select * from primary_curves
