"""dbt Python model: the prospective comparison, one row per grouping and next-year outcome.

Index mode only (enabled in python_models/_python_models.yml). A thin adapter over
``mimic_segments.reporting.discrimination.compare``: the concentration index of each grouping
from ``segment_prospective_outcomes``, and for the binary outcomes the C-statistic (scikit-learn's
``roc_auc_score``) of each grouping's ordinal score with its 95 % stratified-bootstrap interval
(fixed seed) from ``patient_prospective_scores``. Docs block ``prospective_comparison``.
"""

from mimic_segments.reporting.discrimination import compare
from mimic_segments.segmentation.frames import to_pandas, to_platform


def model(dbt, session):
    dbt.config(materialized="table")
    outcomes = to_pandas(dbt.ref("segment_prospective_outcomes"))
    patients = to_pandas(dbt.ref("patient_prospective_scores"))
    return to_platform(compare(outcomes, patients), session)
