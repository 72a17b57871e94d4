-- One row per patient of hosp.patients: whether they are in the clustering population. The
-- one place the population rule (macro in_clustering_population, var
-- clustering_population_min_admissions) is applied; the clustering inputs and
-- patient_segments both read this flag, so the clustered and the rule-defined segments
-- cannot overlap or leave anyone out.
with

patients as (

    select
        subject_id,
        num_admissions
    from {{ ref('int_patient_features_assembled') }}

)

select
    subject_id,
    {{ in_clustering_population('num_admissions') }} as is_in_clustering_population
from patients
