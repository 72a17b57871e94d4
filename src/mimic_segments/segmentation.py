"""The segmentation pipeline the dbt Python models run, one function per model.

Fits are spread over the models so that none is repeated:

- ``build_diagnostics`` (model ``segmentation_diagnostics``): prepares the features of the
  whole population, then fits every k of the range on a bounded fixed-seed sample and
  applies the selection rule. The chosen k is stored in its output.
- ``build_centroids`` (model ``segment_centroids``): the one full-population K-Means fit, at
  the chosen k; the fitted model (transforms, scaler, centroids) is its output. A fixed k
  is taken from the config, so the full fit does not wait for the diagnostics (the two
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

from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd
from threadpoolctl import threadpool_limits

from mimic_segments import clustering, personas, selection

ID_COLUMN = "subject_id"

# The model configs (set from vars in python_models/_python_models.yml) the models read.
# dbt hands a Python model only the configs its code names in literal
# ``dbt.config.get("...")`` calls, so the adapters spell each of these out.
CONFIG_KEYS = (
    "cluster_k",
    "cluster_k_min",
    "cluster_k_max",
    "cluster_random_state",
    "cluster_log1p_features",
    "cluster_diagnostics_sample_size",
    "cluster_silhouette_sample_size",
    "cluster_stability_resamples",
    "cluster_min_stability",
    "cluster_min_segment_share",
)


def _as_int(name: str, value: object) -> int:
    try:
        number = float(str(value).strip())
    except ValueError:
        raise ValueError(f"config {name!r} must be an integer, got {value!r}") from None
    if not number.is_integer():
        raise ValueError(f"config {name!r} must be an integer, got {value!r}")
    return int(number)


def _as_float(name: str, value: object) -> float:
    try:
        return float(str(value).strip())
    except ValueError:
        raise ValueError(f"config {name!r} must be a number, got {value!r}") from None


@dataclass(frozen=True)
class SegmentationConfig:
    """Every knob of the segmentation; dbt passes them as model configs from vars."""

    k: int | str = 4
    k_min: int = 2
    k_max: int = 8
    random_state: int = 42
    log1p_features: tuple[str, ...] = ()
    n_init: int = 10
    sample_size: int = 10_000
    silhouette_sample_size: int = 5_000
    stability_resamples: int = 10
    min_stability: float = 0.80
    min_cluster_share: float = 0.05

    @classmethod
    def from_configs(cls, configs: Mapping[str, object]) -> SegmentationConfig:
        """Read ``CONFIG_KEYS`` (strings or numbers, as dbt renders vars) from ``configs``."""
        missing = [key for key in CONFIG_KEYS if configs.get(key) is None]
        if missing:
            raise ValueError(
                f"segmentation configs missing (set them from vars in _python_models.yml): {missing}"
            )
        return cls(
            k=selection.parse_k(configs["cluster_k"]),
            k_min=_as_int("cluster_k_min", configs["cluster_k_min"]),
            k_max=_as_int("cluster_k_max", configs["cluster_k_max"]),
            random_state=_as_int("cluster_random_state", configs["cluster_random_state"]),
            log1p_features=tuple(clustering.parse_optional_feature_list(configs["cluster_log1p_features"])),
            sample_size=_as_int(
                "cluster_diagnostics_sample_size", configs["cluster_diagnostics_sample_size"]
            ),
            silhouette_sample_size=_as_int(
                "cluster_silhouette_sample_size", configs["cluster_silhouette_sample_size"]
            ),
            stability_resamples=_as_int(
                "cluster_stability_resamples", configs["cluster_stability_resamples"]
            ),
            min_stability=_as_float("cluster_min_stability", configs["cluster_min_stability"]),
            min_cluster_share=_as_float("cluster_min_segment_share", configs["cluster_min_segment_share"]),
        )

    def diagnostics_settings(self) -> selection.DiagnosticsSettings:
        return selection.DiagnosticsSettings(
            k_values=selection.k_values_for(self.k_min, self.k_max, self.k),
            random_state=self.random_state,
            n_init=self.n_init,
            sample_size=self.sample_size,
            silhouette_sample_size=self.silhouette_sample_size,
            stability_resamples=self.stability_resamples,
        )

    def selection_rule(self) -> selection.SelectionRule:
        return selection.SelectionRule(
            min_stability=self.min_stability, min_cluster_share=self.min_cluster_share
        )


def feature_columns_of(inputs: pd.DataFrame, id_column: str = ID_COLUMN) -> list[str]:
    """The clustering features: every column of the inputs model but the id, in its order."""
    if id_column not in inputs.columns:
        raise ValueError(f"id column {id_column!r} not found in the segmentation inputs")
    return clustering.parse_feature_list([c for c in inputs.columns if c != id_column])


def build_diagnostics(inputs: pd.DataFrame, config: SegmentationConfig) -> pd.DataFrame:
    """``segmentation_diagnostics``: one row per k, with the selection columns."""
    features = feature_columns_of(inputs)
    clustering.validate_feature_frame(inputs, features, ID_COLUMN)
    ordered = inputs.sort_values(ID_COLUMN, kind="mergesort").reset_index(drop=True)
    scaled, _ = clustering.prepare_features(ordered, features, config.log1p_features)
    diagnostics = selection.compute_diagnostics(scaled, config.diagnostics_settings())
    return selection.select_k(diagnostics, config.k, config.selection_rule())


def k_to_fit(inputs: pd.DataFrame, config: SegmentationConfig) -> int:
    """The k to fit: the configured k, or for ``auto`` the rule applied to the diagnostics.

    Equal to the k ``build_diagnostics`` marks ``is_chosen`` for the same inputs and config:
    ``select_k`` chooses a fixed k as is, and the diagnostics are deterministic.
    """
    if config.k != selection.AUTO:
        return int(config.k)
    return selection.chosen_k(build_diagnostics(inputs, config))


def build_centroids(inputs: pd.DataFrame, config: SegmentationConfig) -> pd.DataFrame:
    """``segment_centroids``: fit the chosen k on every patient; the model as a long table."""
    k = k_to_fit(inputs, config)
    features = feature_columns_of(inputs)
    with threadpool_limits(limits=1):
        result = clustering.fit_segments(
            inputs,
            features,
            k=k,
            random_state=config.random_state,
            id_column=ID_COLUMN,
            n_init=config.n_init,
            log1p_features=config.log1p_features,
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
    centroids: pd.DataFrame,
    catalogue: pd.DataFrame,
    signatures: pd.DataFrame,
    min_match_score: object = personas.DEFAULT_MIN_MATCH_SCORE,
) -> pd.DataFrame:
    """``segment_personas``: one row per segment with its persona and fit (see ``personas``).

    ``catalogue`` and ``signatures`` are the seeds ``persona_catalogue`` and
    ``persona_signatures``; ``min_match_score`` is var ``persona_min_match_score``.
    """
    clustered = personas.personas_from_catalogue(catalogue, signatures)
    threshold = _as_float("persona_min_match_score", min_match_score)
    return personas.name_segments(centroids_wide(centroids), clustered, min_match_score=threshold)


def build_patient_clusters(inputs: pd.DataFrame, centroids: pd.DataFrame) -> pd.DataFrame:
    """``patient_clusters``: every patient scored against the stored centroids."""
    return clustering.score_against_centroids(inputs, centroids, id_column=ID_COLUMN)
