"""dbt Python model: every patient's segment, scored against the stored centroids.

A thin adapter: it reads the clustering inputs and the fitted model (``segment_centroids``)
and hands them to ``mimic_segments.segmentation.pipeline.build_patient_clusters`` (no refit). The SQL
model ``patient_nearest_centroid`` scores the same way without Python; a dbt test holds the
two to the same answer for every patient.

What ``dbt.ref()`` returns is read once with ``to_pandas`` and the result written once with
``to_platform`` (``mimic_segments.segmentation.frames``): DuckDB relations and PySpark frames
(Databricks) alike; see docs/engines.md, "Python models on other platforms".
"""

from mimic_segments.segmentation.frames import to_pandas, to_platform
from mimic_segments.segmentation.pipeline import build_patient_clusters


def model(dbt, session):
    dbt.config(materialized="table")
    inputs = to_pandas(dbt.ref("int_patients_prepared_for_segmentation"))
    centroids = to_pandas(dbt.ref("segment_centroids"))
    return to_platform(build_patient_clusters(inputs, centroids), session)
