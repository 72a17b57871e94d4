"""dbt Python model: K-Means diagnostics for every k of the range, and the chosen k.

A thin adapter over ``mimic_segments.segmentation.pipeline.build_diagnostics`` (logic and tests live
there). The settings are the one JSON config ``segmentation_settings`` (the vars), the inputs' columns
and the seed ``feature_catalogue``, combined and checked by ``mimic_segments.segmentation.settings``.

What ``dbt.ref()`` returns is read once with ``to_pandas`` and the result written once with
``to_platform`` (``mimic_segments.segmentation.frames``): DuckDB relations and PySpark frames
(Databricks) alike; see docs/engines.md, "Python models on other platforms".
"""

from mimic_segments.segmentation.frames import to_pandas, to_platform
from mimic_segments.segmentation.pipeline import build_diagnostics, input_features
from mimic_segments.segmentation.settings import SegmentationSettings


def model(dbt, session):
    dbt.config(materialized="table")
    inputs = to_pandas(dbt.ref("int_patients_prepared_for_segmentation"))
    feature_catalogue = to_pandas(dbt.ref("feature_catalogue"))
    settings = SegmentationSettings.from_dbt(
        dbt.config.get("segmentation_settings"), feature_catalogue, input_features(inputs)
    )
    return to_platform(build_diagnostics(inputs, settings), session)
