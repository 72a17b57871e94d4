"""K-Means segmentation of patients: pure, deterministic functions.

Pipeline (each step is a separate function so it can be extended or reused):
``validate_features`` -> sort rows by id -> ``prepare_features`` (per-feature transform,
then StandardScaler) -> ``fit_kmeans`` (sklearn KMeans) -> ``order_clusters`` ->
``nearest_centroid`` -> result tables (``SegmentationResult``, ``centroid_table``).

Feature preparation: each feature is either used as is (``none``) or through ``log1p``
(``ln(1 + x)``, for heavy-tailed counts and day totals, which must then be >= 0), and then
standardized with the population mean and standard deviation (StandardScaler, ddof=0). The
transform and the scaler's mean and scale are part of the fitted model: ``centroid_table``
writes them next to the centroids so that any patient can be scored without Python
(``score_against_centroids`` is the Python reference of that scoring).

Cluster numbering rule (stable, unlike K-Means' arbitrary labels):
clusters are renumbered ``0..k-1`` by ascending centroid *intensity*, the mean
of the centroid's standardized (z-score) coordinates across all features. So
cluster 0 is the lowest-utilization segment and cluster ``k-1`` the highest.
Ties in intensity are broken by the centroid coordinates compared
lexicographically (in feature order), then by cluster size (smaller first),
then by the original K-Means label.

Assignment rule: a patient belongs to the centroid at the smallest squared Euclidean
distance in standardized units; an exact tie goes to the lowest ``cluster_id``. This is what
K-Means' final assignment step computes; writing it out makes the SQL scoring reproducible.

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

TRANSFORM_NONE = "none"
TRANSFORM_LOG1P = "log1p"
TRANSFORMS = (TRANSFORM_NONE, TRANSFORM_LOG1P)

# Columns of the long centroid table (one row per cluster and feature), in order.
CENTROID_TABLE_COLUMNS = (
    CLUSTER_COLUMN,
    "feature_name",
    "feature_position",
    "transform",
    "scaler_mean",
    "scaler_scale",
    "centroid_scaled",
    "centroid_transformed",
    "centroid_original_units",
    "cluster_size",
)


@dataclass(frozen=True, eq=False)
class FeaturePreparation:
    """How raw feature values become the standardized values K-Means sees.

    ``scaled = (transform(x) - mean) / scale`` per feature, where ``transform`` is
    ``none`` (identity) or ``log1p``. ``mean`` and ``scale`` are the StandardScaler's
    ``mean_`` and ``scale_`` over the transformed values (scale 1 for a constant feature).
    """

    feature_columns: tuple[str, ...]
    transforms: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray

    def transform(self, features: pd.DataFrame) -> np.ndarray:
        """Apply the transforms and the fitted scaling to ``features`` (no refit)."""
        transformed = apply_transforms(features[list(self.feature_columns)], self.transforms)
        # Same arithmetic, in the same order, as StandardScaler.transform.
        scaled = (transformed - self.mean) / self.scale
        return np.ascontiguousarray(scaled, dtype="float64")

    def as_frame(self) -> pd.DataFrame:
        """One row per feature: name, 1-based position, transform, scaler mean and scale."""
        return pd.DataFrame(
            {
                "feature_name": list(self.feature_columns),
                "feature_position": np.arange(1, len(self.feature_columns) + 1, dtype="int64"),
                "transform": list(self.transforms),
                "scaler_mean": self.mean.astype("float64"),
                "scaler_scale": self.scale.astype("float64"),
            }
        )


@dataclass(frozen=True, eq=False)
class SegmentationResult:
    """Output of ``fit_segments``.

    ``assignments``: one row per patient, sorted by id, with columns id,
    ``cluster_id``, ``distance_to_centroid`` and ``scaled_<feature>``.
    ``centroids_scaled``: index ``cluster_id`` (0..k-1), one column per feature.
    ``scaler_mean`` / ``scaler_scale``: StandardScaler parameters by feature (over the
    transformed values).
    ``inertia``: sum of squared distances to the assigned centroids in scaled space.
    ``preparation``: the transforms and scaling, to score other patients the same way.
    """

    assignments: pd.DataFrame
    centroids_scaled: pd.DataFrame
    scaler_mean: pd.Series
    scaler_scale: pd.Series
    inertia: float
    feature_columns: tuple[str, ...]
    preparation: FeaturePreparation


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


def resolve_transforms(feature_columns: Sequence[str], log1p_features: Sequence[str]) -> tuple[str, ...]:
    """The transform of each feature, in feature order: ``log1p`` if listed, else ``none``.

    A listed feature that is not clustered is an error (most likely a typo), not ignored.
    """
    unknown = [name for name in log1p_features if name not in feature_columns]
    if unknown:
        raise ValueError(
            f"log1p features are not among the clustering features {list(feature_columns)}: {unknown}"
        )
    chosen = set(log1p_features)
    return tuple(TRANSFORM_LOG1P if name in chosen else TRANSFORM_NONE for name in feature_columns)


def apply_transforms(values: pd.DataFrame, transforms: Sequence[str]) -> np.ndarray:
    """Return the float64 matrix of ``values`` with each column's transform applied.

    ``log1p`` columns must be >= 0 (they are counts or day totals): a negative value raises
    ``ValueError`` naming the column and the number of rows, instead of producing NaN.
    """
    if len(transforms) != values.shape[1]:
        raise ValueError(f"{len(transforms)} transforms for {values.shape[1]} feature columns")
    matrix = values.to_numpy(dtype="float64", na_value=np.nan).copy()
    for position, (column, transform) in enumerate(zip(values.columns, transforms, strict=True)):
        if transform == TRANSFORM_NONE:
            continue
        if transform != TRANSFORM_LOG1P:
            raise ValueError(
                f"unknown transform {transform!r} for feature {column!r}; expected one of {TRANSFORMS}"
            )
        negative = int((matrix[:, position] < 0).sum())
        if negative:
            raise ValueError(f"log1p feature {column!r} has {negative} rows with negative values")
        matrix[:, position] = np.log1p(matrix[:, position])
    return matrix


def validate_features(features: pd.DataFrame, feature_columns: Sequence[str], id_column: str, k: int) -> None:
    """Raise ``ValueError`` naming the problem if the input cannot be clustered."""
    validate_feature_frame(features, feature_columns, id_column)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise ValueError(f"k must be an integer, got {k!r}")
    if k < 2 or k > len(features):
        raise ValueError(f"k must be between 2 and the number of rows ({len(features)}), got {k}")


def validate_feature_frame(features: pd.DataFrame, feature_columns: Sequence[str], id_column: str) -> None:
    """Raise ``ValueError`` naming columns and row counts if ``features`` cannot be scored."""
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


def scale_features(values: pd.DataFrame) -> tuple[np.ndarray, StandardScaler]:
    """Standardize numeric columns (population std, ddof=0); return array and scaler."""
    scaler = StandardScaler()
    scaled = scaler.fit_transform(values.to_numpy(dtype="float64", na_value=np.nan))
    return np.ascontiguousarray(scaled, dtype="float64"), scaler


def prepare_features(
    features: pd.DataFrame, feature_columns: Sequence[str], log1p_features: Sequence[str] = ()
) -> tuple[np.ndarray, FeaturePreparation]:
    """Transform then standardize ``feature_columns``; return the matrix and how it was made.

    Rows keep the order of ``features``. The caller validates the frame first.
    """
    columns = tuple(feature_columns)
    transforms = resolve_transforms(columns, log1p_features)
    transformed = apply_transforms(features[list(columns)], transforms)
    scaler = StandardScaler().fit(transformed)
    preparation = FeaturePreparation(
        feature_columns=columns,
        transforms=transforms,
        mean=np.asarray(scaler.mean_, dtype="float64"),
        scale=np.asarray(scaler.scale_, dtype="float64"),
    )
    return preparation.transform(features), preparation


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


def squared_distances(scaled: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """``(n, k)`` squared Euclidean distances, summed feature by feature.

    Computed as the plain sum of squared differences (not the expanded dot-product form
    K-Means uses internally), the same arithmetic as the SQL scoring model.
    """
    result = np.empty((scaled.shape[0], centers.shape[0]), dtype="float64")
    for cluster, center in enumerate(centers):
        result[:, cluster] = ((scaled - center) ** 2).sum(axis=1)
    return result


def nearest_centroid(scaled: np.ndarray, centers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Label of the nearest centroid (exact ties: the lowest index) and the distance to it."""
    distances = squared_distances(scaled, centers)
    labels = distances.argmin(axis=1).astype("int64")  # argmin returns the first minimum
    nearest = distances[np.arange(len(labels)), labels]
    return labels, np.sqrt(nearest)


def _assignment_frame(
    ids: pd.Series, id_column: str, labels: np.ndarray, distances: np.ndarray, scaled: np.ndarray, columns
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            id_column: ids.to_numpy(),
            CLUSTER_COLUMN: labels.astype("int64"),
            DISTANCE_COLUMN: distances.astype("float64"),
            **{f"{SCALED_PREFIX}{c}": scaled[:, i] for i, c in enumerate(columns)},
        }
    )


def fit_segments(
    features: pd.DataFrame,
    feature_columns: Sequence[str],
    k: int = 4,
    random_state: int = 42,
    id_column: str = "subject_id",
    n_init: int = 10,
    log1p_features: Sequence[str] = (),
) -> SegmentationResult:
    """Prepare ``feature_columns``, cluster with K-Means and number clusters stably.

    Other columns of ``features`` are ignored. See the module docstring for the
    transforms, the numbering and assignment rules and the determinism guarantees.
    """
    columns = parse_feature_list(feature_columns)
    validate_features(features, columns, id_column, k)
    ordered = features.sort_values(id_column, kind="mergesort").reset_index(drop=True)
    scaled, preparation = prepare_features(ordered, columns, log1p_features)
    model = fit_kmeans(scaled, k, random_state, n_init)

    kmeans_labels = np.asarray(model.labels_, dtype="int64")
    centers = np.asarray(model.cluster_centers_, dtype="float64")
    mapping = order_clusters(centers, kmeans_labels)
    centroids = np.empty_like(centers)
    centroids[mapping] = centers
    labels, distances = nearest_centroid(scaled, centroids)

    centroids_scaled = pd.DataFrame(centroids, columns=columns, index=pd.RangeIndex(k, name=CLUSTER_COLUMN))
    return SegmentationResult(
        assignments=_assignment_frame(ordered[id_column], id_column, labels, distances, scaled, columns),
        centroids_scaled=centroids_scaled,
        scaler_mean=pd.Series(preparation.mean, index=columns, name="mean", dtype="float64"),
        scaler_scale=pd.Series(preparation.scale, index=columns, name="scale", dtype="float64"),
        inertia=float((distances**2).sum()),
        feature_columns=tuple(columns),
        preparation=preparation,
    )


def inverse_transform(transformed: np.ndarray, transforms: Sequence[str]) -> np.ndarray:
    """Undo ``apply_transforms`` column by column (``expm1`` for ``log1p``)."""
    values = np.array(transformed, dtype="float64", copy=True)
    for position, transform in enumerate(transforms):
        if transform == TRANSFORM_LOG1P:
            values[..., position] = np.expm1(values[..., position])
    return values


def centroid_table(result: SegmentationResult) -> pd.DataFrame:
    """The fitted model as data: one row per cluster and feature (``CENTROID_TABLE_COLUMNS``).

    ``centroid_scaled`` is the K-Means centroid in standardized units; ``centroid_transformed``
    maps it back through the scaler (``centroid_scaled * scale + mean``), and
    ``centroid_original_units`` also undoes the transform (``expm1`` for ``log1p``). With
    ``log1p`` the latter is a geometric-mean-like centre, not the arithmetic mean of the
    members' raw values (segment_profiles holds those). ``cluster_size`` is the number of
    patients assigned to the cluster.
    """
    preparation = result.preparation
    centroids = result.centroids_scaled.to_numpy(dtype="float64")
    transformed = centroids * preparation.scale + preparation.mean
    original = inverse_transform(transformed, preparation.transforms)
    sizes = np.bincount(result.assignments[CLUSTER_COLUMN].to_numpy(), minlength=len(centroids))
    per_feature = preparation.as_frame()
    frames = []
    for cluster in range(len(centroids)):
        frame = per_feature.copy()
        frame.insert(0, CLUSTER_COLUMN, np.int64(cluster))
        frame["centroid_scaled"] = centroids[cluster]
        frame["centroid_transformed"] = transformed[cluster]
        frame["centroid_original_units"] = original[cluster]
        frame["cluster_size"] = np.int64(sizes[cluster])
        frames.append(frame)
    table = pd.concat(frames, ignore_index=True)
    return table[list(CENTROID_TABLE_COLUMNS)]


def preparation_from_centroid_table(table: pd.DataFrame) -> tuple[FeaturePreparation, np.ndarray]:
    """Read the transforms, scaler and centroids back from a ``centroid_table`` frame.

    Checks that the table is complete: every cluster 0..k-1 has every feature exactly once,
    and every cluster shares the same transform, mean and scale per feature.
    """
    missing = [c for c in CENTROID_TABLE_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"centroid table lacks columns {missing}")
    if table.empty:
        raise ValueError("centroid table is empty")
    ordered = table.sort_values([CLUSTER_COLUMN, "feature_position"], kind="mergesort")
    clusters = sorted(ordered[CLUSTER_COLUMN].unique().tolist())
    if clusters != list(range(len(clusters))):
        raise ValueError(f"centroid table clusters are not numbered 0..k-1: {clusters}")
    per_feature = ordered[ordered[CLUSTER_COLUMN] == 0][
        ["feature_name", "feature_position", "transform", "scaler_mean", "scaler_scale"]
    ].reset_index(drop=True)
    for cluster in clusters:
        rows = ordered[ordered[CLUSTER_COLUMN] == cluster][list(per_feature.columns)].reset_index(drop=True)
        if not rows.equals(per_feature):
            raise ValueError(
                f"cluster {cluster} of the centroid table has other features or scaling than cluster 0"
            )
    if per_feature["feature_name"].duplicated().any():
        raise ValueError("centroid table repeats a feature within a cluster")
    preparation = FeaturePreparation(
        feature_columns=tuple(per_feature["feature_name"]),
        transforms=tuple(per_feature["transform"]),
        mean=per_feature["scaler_mean"].to_numpy(dtype="float64"),
        scale=per_feature["scaler_scale"].to_numpy(dtype="float64"),
    )
    centers = (
        ordered.pivot(index=CLUSTER_COLUMN, columns="feature_name", values="centroid_scaled")
        .loc[clusters, list(preparation.feature_columns)]
        .to_numpy(dtype="float64")
    )
    return preparation, centers


def score_against_centroids(
    features: pd.DataFrame, table: pd.DataFrame, id_column: str = "subject_id"
) -> pd.DataFrame:
    """Assign each row of ``features`` to its nearest centroid of a ``centroid_table``.

    Applies the stored transform and scaling (no refit), then the assignment rule. Returns
    the same layout as ``SegmentationResult.assignments``, sorted by id.
    """
    preparation, centers = preparation_from_centroid_table(table)
    columns = list(preparation.feature_columns)
    validate_feature_frame(features, columns, id_column)
    ordered = features.sort_values(id_column, kind="mergesort").reset_index(drop=True)
    scaled = preparation.transform(ordered)
    labels, distances = nearest_centroid(scaled, centers)
    return _assignment_frame(ordered[id_column], id_column, labels, distances, scaled, columns)
