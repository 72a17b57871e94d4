"""dbt Python model: each clustered segment's persona, matched from its centroid (no refit).

A thin adapter over ``mimic_segments.segmentation.pipeline.build_segment_personas``. The personas are
data: the seeds ``persona_catalogue`` (names, kinds, actions) and ``persona_signatures`` (each
clustered persona's signed feature weights). The weak-match threshold and the features'
care-need dimensions come from ``mimic_segments.segmentation.settings`` (the vars config and the
seed ``feature_catalogue``).
"""

from mimic_segments.segmentation.pipeline import build_segment_personas, model_features
from mimic_segments.segmentation.settings import SegmentationSettings


def model(dbt, session):
    dbt.config(materialized="table")
    centroids = dbt.ref("segment_centroids").df()
    settings = SegmentationSettings.from_dbt(
        dbt.config.get("segmentation_settings"), dbt.ref("feature_catalogue").df(), model_features(centroids)
    )
    catalogue = dbt.ref("persona_catalogue").df()
    signatures = dbt.ref("persona_signatures").df()
    return build_segment_personas(centroids, catalogue, signatures, settings)
