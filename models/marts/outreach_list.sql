-- The care managers' outreach worklist (docs block outreach_list): living patients whose
-- segment's outreach priority is at most var outreach_max_priority and whose last contact with
-- the hospital, an admission or an ED visit, is at most var outreach_recent_days old, ranked
-- by priority, then by the LACE score of their last index discharge (highest first; a patient
-- without one after every scored patient of the priority), then by recency. Each row says why
-- the patient is on it in columns a BI tool can filter: segment, priority and action, LACE
-- score and band, last discharge and how long ago.
-- Selected by the catalogue's priority, never by a segment's name, so it works for any k.
-- "Recent" is counted in each patient's own timeline (MIMIC shifts dates per patient).
with

segments as (

    select
        subject_id,
        segment_key,
        segment_kind,
        segment_name,
        care_management_action,
        outreach_priority
    from {{ ref('patient_segments') }}

),

features as (

    select
        subject_id,
        is_known_deceased,
        estimated_as_of_date,
        days_since_last_admission,
        days_since_last_ed_visit,
        num_admissions,
        early_readmissions,
        num_ed_visits,
        charlson_comorbidity_index,
        age_at_last_admission,
        gender
    from {{ ref('patient_features') }}

),

last_index_discharges as (

    select
        subject_id,
        discharged_at,
        lace_score,
        lace_risk_band
    from {{ ref('int_index_discharges_last_per_patient') }}

),

-- all three at patient grain (unique subject_id): one-to-one. A patient with no index
-- discharge (never admitted, or no counted episode left alive) keeps a NULL LACE.
joined as (

    select
        segments.subject_id,
        segments.segment_key,
        segments.segment_kind,
        segments.segment_name,
        segments.outreach_priority,
        segments.care_management_action,
        last_index_discharges.lace_score,
        last_index_discharges.lace_risk_band,
        cast(last_index_discharges.discharged_at as date) as last_index_discharge_date,
        cast(
            {{ dbt.datediff(
                'cast(last_index_discharges.discharged_at as date)', 'features.estimated_as_of_date', 'day'
            ) }}
            as {{ dbt.type_bigint() }}
        ) as days_since_last_index_discharge,
        features.days_since_last_admission,
        features.days_since_last_ed_visit,
        -- the more recent of the last admission and the last ED visit (either may be NULL)
        coalesce(
            case
                when features.days_since_last_ed_visit < features.days_since_last_admission
                    then features.days_since_last_ed_visit
                else features.days_since_last_admission
            end,
            features.days_since_last_admission,
            features.days_since_last_ed_visit
        ) as days_since_last_contact,
        features.num_admissions,
        features.early_readmissions,
        features.num_ed_visits,
        features.charlson_comorbidity_index,
        features.age_at_last_admission,
        features.gender,
        features.is_known_deceased
    from segments
    inner join features on segments.subject_id = features.subject_id
    left join last_index_discharges on segments.subject_id = last_index_discharges.subject_id

)

-- the row number is taken over the patients the where clause keeps
select
    cast(row_number() over (
        order by
            outreach_priority asc,
            -- a patient without a LACE score comes after every scored patient of the priority
            case when lace_score is null then 1 else 0 end asc,
            lace_score desc,
            days_since_last_contact asc,
            subject_id asc
    ) as {{ dbt.type_bigint() }}) as outreach_rank,
    subject_id,
    segment_key,
    segment_kind,
    segment_name,
    outreach_priority,
    care_management_action,
    lace_score,
    lace_risk_band,
    last_index_discharge_date,
    days_since_last_index_discharge,
    days_since_last_admission,
    days_since_last_ed_visit,
    days_since_last_contact,
    num_admissions,
    early_readmissions as num_early_readmissions,
    num_ed_visits,
    charlson_comorbidity_index,
    age_at_last_admission,
    gender
from joined
where
    -- any recorded death, in or out of hospital: never contact these
    not is_known_deceased
    and outreach_priority <= {{ outreach_max_priority() }}
    and days_since_last_contact <= {{ outreach_recent_days() }}
