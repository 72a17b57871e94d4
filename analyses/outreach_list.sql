-- High-risk outreach list: living patients whose segment's persona has an outreach priority
-- of at most var outreach_max_priority (default 2: the high-utilizer and ICU-intensive
-- personas of the catalogue) and whose last admission is recent, highest priority and most
-- urgent first. Selected by the catalogue's priority, never by persona name, so it works for
-- any k (segments named descriptively carry their best-fitting persona's priority). A BI tool
-- or a care manager's worklist runs this; nobody with a recorded death is ever on it.
--
-- "Recent" is measured in each patient's own timeline (days_since_last_admission, against the
-- patient's estimated end of data, +/- 1 year): MIMIC dates cannot be compared across patients.
{%- set recent_days = var('outreach_recent_days', 730) %}

with

segments as (

    select
        subject_id,
        persona_name,
        care_management_action,
        outreach_priority
    from {{ ref('patient_segments') }}

),

features as (

    select
        subject_id,
        num_admissions,
        days_since_last_admission,
        early_readmissions,
        total_icu_days,
        charlson_comorbidity_index,
        age_at_last_admission,
        gender,
        is_known_deceased
    from {{ ref('patient_features') }}

),

-- both at patient grain (unique subject_id): one-to-one
eligible as (

    select
        segments.subject_id,
        segments.persona_name,
        segments.care_management_action,
        segments.outreach_priority,
        features.num_admissions,
        features.days_since_last_admission,
        features.early_readmissions,
        features.total_icu_days,
        features.charlson_comorbidity_index,
        features.age_at_last_admission,
        features.gender
    from segments
    inner join features on segments.subject_id = features.subject_id
    where
        not features.is_known_deceased
        and segments.outreach_priority <= {{ var('outreach_max_priority') }}
        and features.days_since_last_admission <= {{ recent_days }}

)

select
    subject_id,
    persona_name,
    care_management_action,
    outreach_priority,
    num_admissions,
    early_readmissions,
    round(total_icu_days, 1) as total_icu_days,
    charlson_comorbidity_index,
    days_since_last_admission,
    age_at_last_admission,
    gender
from eligible
order by
    outreach_priority asc,
    early_readmissions desc,
    charlson_comorbidity_index desc,
    days_since_last_admission asc,
    subject_id asc
