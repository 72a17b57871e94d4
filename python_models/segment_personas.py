"""dbt Python model: each clustered segment's persona, matched from its centroid (no refit).

A thin adapter over ``mimic_segments.segmentation.pipeline.build_segment_personas``. The personas are
data: the seeds ``persona_catalogue`` (names, kinds, actions) and ``persona_signatures`` (each
clustered persona's signed feature weights). The weak-match threshold and the features'
care-need dimensions come from ``mimic_segments.segmentation.settings`` (the vars config and the
seed ``feature_catalogue``).

What ``dbt.ref()`` returns is read once with ``to_pandas`` and the result written once with
``to_platform`` (``mimic_segments.segmentation.frames``): DuckDB relations and PySpark frames
(Databricks) alike; see docs/engines.md, "Python models on other platforms".
"""

from mimic_segments.segmentation.frames import to_pandas, to_platform
from mimic_segments.segmentation.pipeline import build_segment_personas, model_features
from mimic_segments.segmentation.settings import SegmentationSettings


def model(dbt, session):
    dbt.config(materialized="table")
    centroids = to_pandas(dbt.ref("segment_centroids"))
    feature_catalogue = to_pandas(dbt.ref("feature_catalogue"))
    settings = SegmentationSettings.from_dbt(
        dbt.config.get("segmentation_settings"), feature_catalogue, model_features(centroids)
    )
    catalogue = to_pandas(dbt.ref("persona_catalogue"))
    signatures = to_pandas(dbt.ref("persona_signatures"))
    return to_platform(build_segment_personas(centroids, catalogue, signatures, settings), session)
