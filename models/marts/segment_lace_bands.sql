-- LACE's distribution per segment (docs block segment_lace_bands): one row per segment and
-- LACE band (low 0-4, moderate 5-9, high 10 or more, and 'none' for the patients with no index
-- discharge to score), every band of every segment, so a BI tool draws the stacked bars of the
-- report from this table alone. Patients are counted by the band of their last index
-- discharge (the score outreach_list ranks by); index discharges by their own band.
with

segments as (

    select
        segment_key,
        segment_name,
        num_patients as segment_patients
    from {{ ref('segments') }}

),

patient_segments as (

    select
        subject_id,
        segment_key
    from {{ ref('patient_segments') }}

),

scores as (

    select
        subject_id,
        lace_score,
        lace_risk_band,
        is_last_index_discharge
    from {{ ref('readmission_risk_scores') }}

),

bands as (

    {%- for band in ['low', 'moderate', 'high', 'none'] %}
    select
        {{ loop.index }} as band_order,
        '{{ band }}' as lace_risk_band
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}

),

-- scores is unique on (subject_id, episode_number) and holds at most one last discharge per
-- patient; patient_segments is unique on subject_id: one row per patient
patients_banded as (

    select
        patient_segments.segment_key,
        coalesce(scores.lace_risk_band, 'none') as lace_risk_band,
        scores.lace_score
    from patient_segments
    left join scores
        on
            patient_segments.subject_id = scores.subject_id
            and scores.is_last_index_discharge

),

patient_counts as (

    select
        segment_key,
        lace_risk_band,
        count(*) as num_patients,
        -- integer scores: the sum is exact in any row order; NULL for the 'none' band
        {{ fixed_point_mean('lace_score') }} as mean_lace_score
    from patients_banded
    group by segment_key, lace_risk_band

),

-- many discharges to one patient (patient_segments unique on subject_id): no fan-out
discharge_counts as (

    select
        patient_segments.segment_key,
        scores.lace_risk_band,
        count(*) as num_index_discharges
    from scores
    inner join patient_segments on scores.subject_id = patient_segments.subject_id
    group by patient_segments.segment_key, scores.lace_risk_band

),

-- every segment with every band; the counts are unique on (segment_key, lace_risk_band)
grid as (

    select
        segments.segment_key,
        segments.segment_name,
        bands.band_order,
        bands.lace_risk_band,
        segments.segment_patients,
        coalesce(patient_counts.num_patients, 0) as num_patients,
        patient_counts.mean_lace_score,
        coalesce(discharge_counts.num_index_discharges, 0) as num_index_discharges
    from segments
    cross join bands
    left join patient_counts
        on
            segments.segment_key = patient_counts.segment_key
            and bands.lace_risk_band = patient_counts.lace_risk_band
    left join discharge_counts
        on
            segments.segment_key = discharge_counts.segment_key
            and bands.lace_risk_band = discharge_counts.lace_risk_band

)

select
    cast(segment_key as {{ dbt.type_string() }}) as segment_key,
    cast(segment_name as {{ dbt.type_string() }}) as segment_name,
    cast(lace_risk_band as {{ dbt.type_string() }}) as lace_risk_band,
    cast(band_order as {{ dbt.type_bigint() }}) as lace_risk_band_order,
    cast(num_patients as {{ dbt.type_bigint() }}) as num_patients,
    cast(num_patients as {{ type_double() }}) / nullif(segment_patients, 0) as share_of_segment_patients,
    cast(mean_lace_score as {{ type_double() }}) as mean_lace_score,
    cast(num_index_discharges as {{ dbt.type_bigint() }}) as num_index_discharges
from grid
