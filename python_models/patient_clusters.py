"""dbt Python model: every patient's segment, scored against the stored centroids.

A thin adapter: it reads the clustering inputs and the fitted model (``segment_centroids``)
and hands them to ``mimic_segments.segmentation.pipeline.build_patient_clusters`` (no refit). The SQL
model ``patient_nearest_centroid`` scores the same way without Python; a dbt test holds the
two to the same answer for every patient.
"""

from mimic_segments.segmentation.pipeline import build_patient_clusters


def model(dbt, session):
    dbt.config(materialized="table")
    inputs = dbt.ref("int_patients_prepared_for_segmentation").df()
    centroids = dbt.ref("segment_centroids").df()
    return build_patient_clusters(inputs, centroids)
