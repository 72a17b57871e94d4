"""The segmentation pipeline the dbt Python models run, one function per model.

Fits are spread over the models so that none is repeated:

- ``build_diagnostics`` (model ``segmentation_diagnostics``): prepares the features of the
  whole population, then fits every k of the range on a bounded fixed-seed sample and
  applies the selection rule. The chosen k is stored in its output.
- ``build_centroids`` (model ``segment_centroids``): the one full-population K-Means fit, at
  the chosen k; the fitted model (transforms, scaler, centroids) is its output. A fixed k
  is taken from the settings, so the full fit does not wait for the diagnostics (the two
  models run side by side); only ``k = 'auto'`` needs the diagnostics, which it then
  computes with the same pure, seeded function, so it chooses the k that
  ``segmentation_diagnostics`` records (a dbt test holds the two equal).
- ``build_segment_personas`` (model ``segment_personas``): names segments from the stored
  centroids after the persona catalogue and signature seeds; no fit.
- ``build_patient_clusters`` (model ``patient_clusters``): scores every patient against the
  stored centroids (the Python reference of the SQL scoring model); no fit.

K-Means runs single-threaded: the many small fits of the diagnostics are dominated by
OpenMP start-up and spin-waiting on a busy 2-core machine, and sklearn's results do not
depend on the thread count, so this changes speed only.
"""

from __future__ import annotations

import pandas as pd
from threadpoolctl import threadpool_limits

from mimic_segments.segmentation import clustering, personas, selection
from mimic_segments.segmentation.settings import AUTO, SegmentationSettings

ID_COLUMN = "subject_id"


def diagnostics_settings(settings: SegmentationSettings) -> selection.DiagnosticsSettings:
    return selection.DiagnosticsSettings(
        k_values=selection.k_values_for(settings.k_min, settings.k_max, settings.k),
        random_state=settings.random_state,
        n_init=settings.n_init,
        sample_size=settings.sample_size,
        silhouette_sample_size=settings.silhouette_sample_size,
        stability_resamples=settings.stability_resamples,
    )


def selection_rule(settings: SegmentationSettings) -> selection.SelectionRule:
    return selection.SelectionRule(
        min_stability=settings.min_stability, min_cluster_share=settings.min_cluster_share
    )


def input_features(inputs: pd.DataFrame, id_column: str = ID_COLUMN) -> list[str]:
    """The clustering inputs: every column of the inputs model but the id, in its order."""
    if id_column not in inputs.columns:
        raise ValueError(f"id column {id_column!r} not found in the segmentation inputs")
    return [c for c in inputs.columns if c != id_column]


def model_features(centroids: pd.DataFrame) -> list[str]:
    """The features of a fitted model (``segment_centroids``), in feature order."""
    first = centroids[centroids[clustering.CLUSTER_COLUMN] == centroids[clustering.CLUSTER_COLUMN].min()]
    return first.sort_values("feature_position", kind="mergesort")["feature_name"].tolist()


def feature_columns_of(
    inputs: pd.DataFrame, settings: SegmentationSettings, id_column: str = ID_COLUMN
) -> list[str]:
    """The clustering features: the settings' list, which must be the inputs' columns (but the id)."""
    columns = input_features(inputs, id_column)
    if columns != list(settings.features):
        raise ValueError(
            f"the segmentation inputs have columns {columns}, the settings name {list(settings.features)}: "
            "int_patients_prepared_for_segmentation and the settings must come from the same build"
        )
    return columns


def build_diagnostics(inputs: pd.DataFrame, settings: SegmentationSettings) -> pd.DataFrame:
    """``segmentation_diagnostics``: one row per k, with the selection columns."""
    features = feature_columns_of(inputs, settings)
    clustering.validate_feature_frame(inputs, features, ID_COLUMN)
    ordered = inputs.sort_values(ID_COLUMN, kind="mergesort").reset_index(drop=True)
    scaled, _ = clustering.prepare_features(ordered, features, settings.log1p_features)
    diagnostics = selection.compute_diagnostics(scaled, diagnostics_settings(settings))
    return selection.select_k(diagnostics, settings.k, selection_rule(settings))


def k_to_fit(inputs: pd.DataFrame, settings: SegmentationSettings) -> int:
    """The k to fit: the configured k, or for ``auto`` the rule applied to the diagnostics.

    Equal to the k ``build_diagnostics`` marks ``is_chosen`` for the same inputs and settings:
    ``select_k`` chooses a fixed k as is, and the diagnostics are deterministic.
    """
    if settings.k != AUTO:
        return int(settings.k)
    return selection.chosen_k(build_diagnostics(inputs, settings))


def build_centroids(inputs: pd.DataFrame, settings: SegmentationSettings) -> pd.DataFrame:
    """``segment_centroids``: fit the chosen k on every patient; the model as a long table."""
    k = k_to_fit(inputs, settings)
    features = feature_columns_of(inputs, settings)
    with threadpool_limits(limits=1):
        result = clustering.fit_segments(
            inputs,
            features,
            k=k,
            random_state=settings.random_state,
            id_column=ID_COLUMN,
            n_init=settings.n_init,
            log1p_features=settings.log1p_features,
        )
    return clustering.centroid_table(result)


def centroids_wide(centroids: pd.DataFrame) -> pd.DataFrame:
    """Standardized centroids, index ``cluster_id``, one column per feature in feature order."""
    _, centers = clustering.preparation_from_centroid_table(centroids)
    features = (
        centroids[centroids[clustering.CLUSTER_COLUMN] == 0]
        .sort_values("feature_position", kind="mergesort")["feature_name"]
        .tolist()
    )
    return pd.DataFrame(
        centers, columns=features, index=pd.RangeIndex(len(centers), name=clustering.CLUSTER_COLUMN)
    )


def build_segment_personas(
    centroids: pd.DataFrame, catalogue: pd.DataFrame, signatures: pd.DataFrame, settings: SegmentationSettings
) -> pd.DataFrame:
    """``segment_personas``: one row per segment with its persona and fit (see ``personas``).

    ``catalogue`` and ``signatures`` are the seeds ``persona_catalogue`` and
    ``persona_signatures``; the weak-match threshold and the features' care-need dimensions
    come from the settings.
    """
    clustered = personas.personas_from_catalogue(catalogue, signatures)
    return personas.name_segments(
        centroids_wide(centroids),
        clustered,
        feature_dimensions=settings.feature_dimensions,
        min_match_score=settings.min_match_score,
    )


def build_patient_clusters(inputs: pd.DataFrame, centroids: pd.DataFrame) -> pd.DataFrame:
    """``patient_clusters``: every patient scored against the stored centroids."""
    return clustering.score_against_centroids(inputs, centroids, id_column=ID_COLUMN)
