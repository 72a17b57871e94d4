"""dbt Python model: K-Means diagnostics for every k of the range, and the chosen k.

A thin adapter over ``mimic_segments.segmentation.pipeline.build_diagnostics`` (logic and tests live
there). The settings are the one JSON config ``segmentation_settings`` (the vars), the inputs' columns
and the seed ``feature_catalogue``, combined and checked by ``mimic_segments.segmentation.settings``.
"""

from mimic_segments.segmentation.pipeline import build_diagnostics, input_features
from mimic_segments.segmentation.settings import SegmentationSettings


def model(dbt, session):
    dbt.config(materialized="table")
    inputs = dbt.ref("int_patients_prepared_for_segmentation").df()
    settings = SegmentationSettings.from_dbt(
        dbt.config.get("segmentation_settings"), dbt.ref("feature_catalogue").df(), input_features(inputs)
    )
    return build_diagnostics(inputs, settings)
