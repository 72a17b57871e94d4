"""dbt Python model: the fitted segmentation model as data (transforms, scaler, centroids).

The one full K-Means fit of the clustering population, at the k chosen by the rule
``segmentation_diagnostics`` records. It does not ref that model: a fixed k comes from the
settings, so this fit runs side by side with the diagnostics instead of after them; for
``auto`` it applies the same deterministic rule itself. A thin adapter over
``mimic_segments.segmentation.pipeline.build_centroids``; the settings are built by
``mimic_segments.segmentation.settings``.

What ``dbt.ref()`` returns is read once with ``to_pandas`` and the result written once with
``to_platform`` (``mimic_segments.segmentation.frames``): DuckDB relations and PySpark frames
(Databricks) alike; see docs/engines.md, "Python models on other platforms".
"""

from mimic_segments.segmentation.frames import to_pandas, to_platform
from mimic_segments.segmentation.pipeline import build_centroids, input_features
from mimic_segments.segmentation.settings import SegmentationSettings


def model(dbt, session):
    dbt.config(materialized="table")
    inputs = to_pandas(dbt.ref("int_patients_prepared_for_segmentation"))
    feature_catalogue = to_pandas(dbt.ref("feature_catalogue"))
    settings = SegmentationSettings.from_dbt(
        dbt.config.get("segmentation_settings"), feature_catalogue, input_features(inputs)
    )
    return to_platform(build_centroids(inputs, settings), session)
