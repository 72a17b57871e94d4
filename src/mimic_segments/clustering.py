"""K-Means segmentation of patients: pure, deterministic functions.

Pipeline (each step is a separate function so it can be extended or reused):
``validate_features`` -> sort rows by id -> ``scale_features`` (StandardScaler)
-> ``fit_kmeans`` (sklearn KMeans) -> ``order_clusters`` -> result tables.

Cluster numbering rule (stable, unlike K-Means' arbitrary labels):
clusters are renumbered ``0..k-1`` by ascending centroid *intensity*, the mean
of the centroid's standardized (z-score) coordinates across all features. So
cluster 0 is the lowest-utilization segment and cluster ``k-1`` the highest.
Ties in intensity are broken by the centroid coordinates compared
lexicographically (in feature order), then by cluster size (smaller first),
then by the original K-Means label.

Determinism: rows are sorted by the id column before fitting, so the same
set of rows gives byte-identical output whatever their input order, and the
output is sorted by id. Each input row yields exactly one output row.

Zero-variance features are accepted, not rejected: StandardScaler sets their
scale to 1, so their scaled values are 0 and they do not affect the clusters.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.preprocessing import StandardScaler

CLUSTER_COLUMN = "cluster_id"
DISTANCE_COLUMN = "distance_to_centroid"
SCALED_PREFIX = "scaled_"


@dataclass(frozen=True, eq=False)
class SegmentationResult:
    """Output of ``fit_segments``.

    ``assignments``: one row per patient, sorted by id, with columns id,
    ``cluster_id``, ``distance_to_centroid`` and ``scaled_<feature>``.
    ``centroids_scaled``: index ``cluster_id`` (0..k-1), one column per feature.
    ``scaler_mean`` / ``scaler_scale``: StandardScaler parameters by feature.
    ``inertia``: K-Means sum of squared distances in scaled space.
    """

    assignments: pd.DataFrame
    centroids_scaled: pd.DataFrame
    scaler_mean: pd.Series
    scaler_scale: pd.Series
    inertia: float
    feature_columns: tuple[str, ...]


def parse_feature_list(value: str | Sequence[str]) -> list[str]:
    """Parse a comma-separated string or a list of names into a clean list.

    Names are stripped of surrounding whitespace; empty names, an empty list
    and duplicate names raise ``ValueError``.
    """
    items = value.split(",") if isinstance(value, str) else list(value)
    names: list[str] = []
    for position, item in enumerate(items):
        if not isinstance(item, str):
            raise ValueError(f"feature name at position {position} is not a string: {item!r}")
        name = item.strip()
        if not name:
            raise ValueError(f"feature name at position {position} is empty in {value!r}")
        names.append(name)
    if not names:
        raise ValueError("feature list is empty")
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"duplicate feature names: {duplicates}")
    return names


def validate_features(features: pd.DataFrame, feature_columns: Sequence[str], id_column: str, k: int) -> None:
    """Raise ``ValueError`` naming the problem if the input cannot be clustered."""
    if features.empty:
        raise ValueError("features is empty: no rows to cluster")
    if id_column not in features.columns:
        raise ValueError(f"id column {id_column!r} not found in features")
    if id_column in feature_columns or id_column in (CLUSTER_COLUMN, DISTANCE_COLUMN):
        raise ValueError(f"id column {id_column!r} clashes with a feature or output column")
    missing = [c for c in feature_columns if c not in features.columns]
    if missing:
        raise ValueError(f"missing feature columns: {missing}")
    non_numeric = [c for c in feature_columns if not pd.api.types.is_numeric_dtype(features[c])]
    if non_numeric:
        raise ValueError(f"non-numeric feature columns: {non_numeric}")
    bad_counts = {
        c: int((~np.isfinite(features[c].to_numpy(dtype="float64", na_value=np.nan))).sum())
        for c in feature_columns
    }
    bad = {c: n for c, n in bad_counts.items() if n}
    if bad:
        detail = ", ".join(f"{c!r}: {n} rows" for c, n in bad.items())
        raise ValueError(f"null/NaN/inf values in feature columns ({detail})")
    ids = features[id_column]
    if ids.isna().any():
        raise ValueError(f"id column {id_column!r} has {int(ids.isna().sum())} null values")
    duplicated = ids.duplicated(keep=False)
    if duplicated.any():
        raise ValueError(
            f"id column {id_column!r} has {int(ids[duplicated].nunique())} duplicated ids "
            f"across {int(duplicated.sum())} rows"
        )
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise ValueError(f"k must be an integer, got {k!r}")
    if k < 2 or k > len(features):
        raise ValueError(f"k must be between 2 and the number of rows ({len(features)}), got {k}")


def scale_features(values: pd.DataFrame) -> tuple[np.ndarray, StandardScaler]:
    """Standardize numeric columns (population std, ddof=0); return array and scaler."""
    scaler = StandardScaler()
    scaled = scaler.fit_transform(values.to_numpy(dtype="float64", na_value=np.nan))
    return np.ascontiguousarray(scaled, dtype="float64"), scaler


def fit_kmeans(scaled: np.ndarray, k: int, random_state: int, n_init: int) -> KMeans:
    """Fit sklearn KMeans on the scaled matrix."""
    return KMeans(n_clusters=k, random_state=random_state, n_init=n_init).fit(scaled)


def order_clusters(centers: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Return ``mapping`` with ``mapping[old_label] = new_cluster_id``.

    Order: ascending mean of centroid coordinates, then coordinates
    lexicographically, then cluster size, then the old label.
    """
    sizes = np.bincount(labels, minlength=len(centers))

    def sort_key(label: int) -> tuple[float, ...]:
        center = centers[label]
        return (float(center.mean()), *map(float, center), float(sizes[label]), float(label))

    order = sorted(range(len(centers)), key=sort_key)
    mapping = np.empty(len(centers), dtype="int64")
    mapping[order] = np.arange(len(centers), dtype="int64")
    return mapping


def fit_segments(
    features: pd.DataFrame,
    feature_columns: Sequence[str],
    k: int = 4,
    random_state: int = 42,
    id_column: str = "subject_id",
    n_init: int = 10,
) -> SegmentationResult:
    """Scale ``feature_columns``, cluster with K-Means and number clusters stably.

    Other columns of ``features`` are ignored. See the module docstring for the
    numbering rule and determinism guarantees.
    """
    columns = parse_feature_list(feature_columns)
    validate_features(features, columns, id_column, k)
    ordered = features.sort_values(id_column, kind="mergesort").reset_index(drop=True)
    scaled, scaler = scale_features(ordered[columns])
    model = fit_kmeans(scaled, k, random_state, n_init)

    labels = np.asarray(model.labels_, dtype="int64")
    centers = np.asarray(model.cluster_centers_, dtype="float64")
    mapping = order_clusters(centers, labels)
    distances = np.linalg.norm(scaled - centers[labels], axis=1)

    assignments = pd.DataFrame(
        {
            id_column: ordered[id_column],
            CLUSTER_COLUMN: mapping[labels],
            DISTANCE_COLUMN: distances.astype("float64"),
            **{f"{SCALED_PREFIX}{c}": scaled[:, i] for i, c in enumerate(columns)},
        }
    )
    centroids = np.empty_like(centers)
    centroids[mapping] = centers
    centroids_scaled = pd.DataFrame(centroids, columns=columns, index=pd.RangeIndex(k, name=CLUSTER_COLUMN))
    return SegmentationResult(
        assignments=assignments,
        centroids_scaled=centroids_scaled,
        scaler_mean=pd.Series(scaler.mean_, index=columns, name="mean", dtype="float64"),
        scaler_scale=pd.Series(scaler.scale_, index=columns, name="scale", dtype="float64"),
        inertia=float(model.inertia_),
        feature_columns=tuple(columns),
    )
