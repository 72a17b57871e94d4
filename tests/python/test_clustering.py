"""Unit tests for mimic_segments.segmentation.clustering (synthetic data only, no dbt)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from mimic_segments.segmentation import clustering
from mimic_segments.segmentation.clustering import (
    fit_segments,
    order_clusters,
    parse_feature_list,
    validate_features,
)

FEATURES = [
    "num_admissions",
    "avg_length_of_stay_days",
    "num_unique_icd_diagnoses",
    "icu_stay_count",
]


def make_patients(n: int = 400, k: int = 4, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Well-separated planted groups, shuffled ids, plus a non-numeric profile column."""
    values, truth = make_blobs(
        n_samples=n,
        n_features=len(FEATURES),
        centers=k,
        cluster_std=0.5,
        center_box=(0.0, 30.0),
        random_state=seed,
    )
    frame = pd.DataFrame(values, columns=FEATURES)
    rng = np.random.default_rng(seed)
    frame.insert(0, "subject_id", rng.permutation(np.arange(10_000, 10_000 + n)))
    frame["gender"] = np.where(rng.random(n) < 0.5, "F", "M")
    return frame, truth


@pytest.fixture(scope="module")
def patients() -> tuple[pd.DataFrame, np.ndarray]:
    return make_patients()


@pytest.fixture(scope="module")
def result(patients: tuple[pd.DataFrame, np.ndarray]) -> clustering.SegmentationResult:
    return fit_segments(patients[0], FEATURES, k=4)


def test_recovers_planted_groups(patients, result) -> None:
    frame, truth = patients
    truth_by_id = pd.Series(truth, index=frame["subject_id"])
    assigned = result.assignments.set_index("subject_id")["cluster_id"]
    assert adjusted_rand_score(truth_by_id.loc[assigned.index], assigned) >= 0.95


def test_output_shape_and_columns(patients, result) -> None:
    frame, _ = patients
    out = result.assignments
    assert list(out.columns) == ["subject_id", "cluster_id", "distance_to_centroid"] + [
        f"scaled_{c}" for c in FEATURES
    ]
    assert len(out) == len(frame)
    assert out["subject_id"].is_unique
    assert set(out["subject_id"]) == set(frame["subject_id"])
    assert out["subject_id"].is_monotonic_increasing
    assert out["cluster_id"].dtype == np.int64
    assert out["distance_to_centroid"].dtype == np.float64
    assert sorted(out["cluster_id"].unique()) == [0, 1, 2, 3]
    assert list(result.centroids_scaled.index) == [0, 1, 2, 3]
    assert result.centroids_scaled.index.name == "cluster_id"
    assert list(result.centroids_scaled.columns) == FEATURES
    assert result.feature_columns == tuple(FEATURES)
    assert result.inertia > 0


def test_numbering_by_ascending_intensity(result) -> None:
    intensity = result.centroids_scaled.mean(axis=1).to_numpy()
    assert np.all(np.diff(intensity) > 0)
    assert intensity.argmin() == 0


def test_centroids_match_member_means(result) -> None:
    scaled_cols = [f"scaled_{c}" for c in FEATURES]
    means = result.assignments.groupby("cluster_id")[scaled_cols].mean()
    np.testing.assert_allclose(means.to_numpy(), result.centroids_scaled.to_numpy(), atol=1e-6)


def test_rerun_is_identical(patients, result) -> None:
    again = fit_segments(patients[0], FEATURES, k=4)
    assert again.assignments.equals(result.assignments)
    assert again.centroids_scaled.equals(result.centroids_scaled)
    assert again.inertia == result.inertia


def test_shuffled_input_is_identical(patients, result) -> None:
    shuffled = patients[0].sample(frac=1.0, random_state=123).reset_index(drop=True)
    again = fit_segments(shuffled, FEATURES, k=4)
    hashes = [pd.util.hash_pandas_object(r.assignments, index=True) for r in (result, again)]
    assert hashes[0].equals(hashes[1])
    assert again.assignments.equals(result.assignments)
    assert again.centroids_scaled.equals(result.centroids_scaled)
    assert again.scaler_mean.equals(result.scaler_mean)
    assert again.inertia == result.inertia


def test_distance_to_own_centroid(result) -> None:
    out = result.assignments
    scaled = out[[f"scaled_{c}" for c in FEATURES]].to_numpy()
    centers = result.centroids_scaled.loc[out["cluster_id"]].to_numpy()
    expected = np.sqrt(((scaled - centers) ** 2).sum(axis=1))
    np.testing.assert_allclose(out["distance_to_centroid"].to_numpy(), expected, rtol=1e-12)
    all_dist = np.linalg.norm(scaled[:, None, :] - result.centroids_scaled.to_numpy()[None], axis=2)
    np.testing.assert_allclose(expected, all_dist.min(axis=1), rtol=1e-12)


def test_scaled_columns_are_standardized(patients, result) -> None:
    frame, _ = patients
    scaled = result.assignments[[f"scaled_{c}" for c in FEATURES]]
    np.testing.assert_allclose(scaled.mean().to_numpy(), 0.0, atol=1e-10)
    np.testing.assert_allclose(scaled.std(ddof=0).to_numpy(), 1.0, rtol=1e-10)
    np.testing.assert_allclose(result.scaler_mean[FEATURES], frame[FEATURES].mean(), rtol=1e-12)
    np.testing.assert_allclose(result.scaler_scale[FEATURES], frame[FEATURES].std(ddof=0), rtol=1e-12)


def test_zero_variance_feature_is_kept() -> None:
    frame, _ = make_patients(n=60, k=3)
    frame["constant"] = 5.0
    res = fit_segments(frame, [*FEATURES, "constant"], k=3)
    assert res.scaler_scale["constant"] == 1.0
    np.testing.assert_allclose(res.assignments["scaled_constant"], 0.0, atol=1e-12)
    assert len(res.assignments) == 60


def test_order_clusters_tie_breaks() -> None:
    # All intensities equal (0): lexicographic coordinates decide.
    centers = np.array([[1.0, -1.0], [-1.0, 1.0], [0.0, 0.0]])
    labels = np.array([0, 1, 2, 2])
    assert order_clusters(centers, labels).tolist() == [2, 0, 1]
    # Identical centroids: the smaller cluster comes first.
    centers = np.array([[0.5, 0.5], [0.5, 0.5], [-2.0, -2.0]])
    labels = np.array([0, 0, 0, 1, 2])
    assert order_clusters(centers, labels).tolist() == [2, 1, 0]


@pytest.mark.parametrize(
    ("mutate", "columns", "k", "fragments"),
    [
        (lambda f: f, [*FEATURES, "missing_a", "missing_b"], 3, ["missing_a", "missing_b"]),
        (lambda f: f, [*FEATURES, "gender"], 3, ["non-numeric", "gender"]),
        (
            lambda f: f.assign(icu_stay_count=[np.nan, None, *f["icu_stay_count"][2:]]),
            FEATURES,
            3,
            ["icu_stay_count", "2 rows"],
        ),
        (
            lambda f: f.assign(num_admissions=[np.inf, -np.inf, 1.0, *f["num_admissions"][3:]]),
            FEATURES,
            3,
            ["num_admissions", "2 rows"],
        ),
        (
            lambda f: f.assign(subject_id=[1, 1, 2, 2, 2, *f["subject_id"][5:]]),
            FEATURES,
            3,
            ["subject_id", "2 duplicated ids", "5 rows"],
        ),
        (lambda f: f.assign(subject_id=[None, *f["subject_id"][1:]]), FEATURES, 3, ["subject_id", "1 null"]),
        (lambda f: f.drop(columns="subject_id"), FEATURES, 3, ["subject_id", "not found"]),
        (lambda f: f, FEATURES, 1, ["k must be", "got 1"]),
        (lambda f: f, FEATURES, 61, ["k must be", "60", "got 61"]),
        (lambda f: f.iloc[0:0], FEATURES, 3, ["empty"]),
    ],
)
def test_validation_errors(mutate, columns, k, fragments) -> None:
    frame, _ = make_patients(n=60, k=3)
    with pytest.raises(ValueError) as excinfo:
        fit_segments(mutate(frame), columns, k=k)
    for fragment in fragments:
        assert fragment in str(excinfo.value)


def test_nullable_integer_nulls_are_counted() -> None:
    frame, _ = make_patients(n=30, k=3)
    frame["icu_stay_count"] = pd.array([None, *range(29)], dtype="Int64")
    with pytest.raises(ValueError, match=r"'icu_stay_count': 1 rows"):
        validate_features(frame, FEATURES, "subject_id", 3)


def test_extra_columns_are_ignored_and_input_untouched(patients) -> None:
    frame, _ = patients
    before = frame.copy()
    res = fit_segments(frame, ",".join(FEATURES), k=4)
    assert "gender" not in res.assignments.columns
    assert frame.equals(before)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("a,b,c", ["a", "b", "c"]),
        (" a , b ,c ", ["a", "b", "c"]),
        (["a", " b "], ["a", "b"]),
        (("x",), ["x"]),
        ("single", ["single"]),
    ],
)
def test_parse_feature_list_valid(value, expected) -> None:
    assert parse_feature_list(value) == expected


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("", "empty"),
        ([], "empty"),
        ("a,,b", "position 1 is empty"),
        (["a", "  "], "position 1 is empty"),
        ("a,b,a", "duplicate feature names: ['a']"),
        (["a", " a"], "duplicate"),
        (["a", 3], "not a string"),
    ],
)
def test_parse_feature_list_invalid(value, fragment) -> None:
    with pytest.raises(ValueError) as excinfo:
        parse_feature_list(value)
    assert fragment in str(excinfo.value)


# --- feature preparation, assignment rule and the centroid table -------------------------


def test_log1p_transform_then_standardize(patients) -> None:
    frame = patients[0].assign(num_admissions=lambda f: f["num_admissions"].abs())
    res = fit_segments(frame, FEATURES, k=4, log1p_features=["num_admissions"])
    ordered = frame.sort_values("subject_id")
    logged = np.log1p(ordered["num_admissions"].to_numpy())
    expected = (logged - logged.mean()) / logged.std(ddof=0)
    np.testing.assert_allclose(res.assignments["scaled_num_admissions"], expected, rtol=1e-12, atol=1e-12)
    assert res.preparation.transforms == ("log1p", "none", "none", "none")
    assert res.scaler_mean["num_admissions"] == pytest.approx(logged.mean())


def test_log1p_rejects_negative_values() -> None:
    frame, _ = make_patients(n=60, k=3)
    frame["num_admissions"] = np.arange(60) - 3.0
    with pytest.raises(ValueError, match=r"log1p feature 'num_admissions' has 3 rows with negative values"):
        fit_segments(frame, FEATURES, k=3, log1p_features=["num_admissions"])


def test_log1p_feature_must_be_clustered() -> None:
    with pytest.raises(ValueError, match=r"not among the clustering features.*\['typo'\]"):
        clustering.resolve_transforms(FEATURES, ["num_admissions", "typo"])


def test_unknown_transform_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown transform 'sqrt'"):
        clustering.apply_transforms(pd.DataFrame({"a": [1.0]}), ["sqrt"])


def test_nearest_centroid_tie_goes_to_lowest_cluster() -> None:
    centers = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 5.0]])
    labels, distances = clustering.nearest_centroid(np.array([[0.0, 0.0], [-0.9, 0.0]]), centers)
    assert labels.tolist() == [0, 1]
    np.testing.assert_allclose(distances, [1.0, 0.1])


def test_assignments_are_kmeans_labels(patients, result) -> None:
    # The written-out assignment rule gives what K-Means itself assigned (up to renumbering).
    frame = patients[0].sort_values("subject_id")
    scaled = result.assignments[[f"scaled_{c}" for c in FEATURES]].to_numpy()
    kmeans = clustering.fit_kmeans(scaled, 4, 42, 10)
    assert adjusted_rand_score(kmeans.labels_, result.assignments["cluster_id"]) == 1.0
    assert len(frame) == len(result.assignments)


def test_centroid_table_holds_the_model(result) -> None:
    table = clustering.centroid_table(result)
    assert list(table.columns) == list(clustering.CENTROID_TABLE_COLUMNS)
    assert len(table) == 4 * len(FEATURES)
    assert table.groupby("cluster_id")["feature_position"].apply(list).tolist() == [[1, 2, 3, 4]] * 4
    np.testing.assert_allclose(
        table["centroid_transformed"], table["centroid_scaled"] * table["scaler_scale"] + table["scaler_mean"]
    )
    sizes = result.assignments["cluster_id"].value_counts().sort_index()
    assert table.drop_duplicates("cluster_id")["cluster_size"].tolist() == sizes.tolist()


def test_centroid_original_units_undo_log1p() -> None:
    frame, _ = make_patients(n=200, k=3)
    frame[FEATURES] = frame[FEATURES].abs()
    res = fit_segments(frame, FEATURES, k=3, log1p_features=FEATURES[:2])
    table = clustering.centroid_table(res)
    logged = table["transform"] == "log1p"
    assert logged.sum() == 2 * 3
    np.testing.assert_allclose(
        table.loc[logged, "centroid_original_units"], np.expm1(table.loc[logged, "centroid_transformed"])
    )
    np.testing.assert_array_equal(
        table.loc[~logged, "centroid_original_units"], table.loc[~logged, "centroid_transformed"]
    )


def test_scoring_against_the_table_reproduces_the_fit(patients, result) -> None:
    table = clustering.centroid_table(result)
    shuffled = patients[0].sample(frac=1.0, random_state=7)
    scored = clustering.score_against_centroids(shuffled, table)
    pd.testing.assert_frame_equal(scored, result.assignments)


def test_scoring_a_new_patient_uses_the_stored_scaling(result) -> None:
    table = clustering.centroid_table(result)
    centroid_3 = result.centroids_scaled.loc[3].to_numpy() * result.scaler_scale + result.scaler_mean
    new = pd.DataFrame([{"subject_id": 1, **dict(zip(FEATURES, centroid_3, strict=True))}])
    scored = clustering.score_against_centroids(new, table)
    assert scored["cluster_id"].tolist() == [3]
    assert scored["distance_to_centroid"].iloc[0] == pytest.approx(0.0, abs=1e-9)


def test_centroid_table_must_be_consistent(result) -> None:
    table = clustering.centroid_table(result)
    shifted = table.copy()
    shifted.loc[shifted["cluster_id"] == 2, "scaler_mean"] += 1.0
    with pytest.raises(ValueError, match="cluster 2 of the centroid table has other features or scaling"):
        clustering.preparation_from_centroid_table(shifted)
    with pytest.raises(ValueError, match=r"not numbered 0..k-1: \[0, 1, 3\]"):
        clustering.preparation_from_centroid_table(table[table["cluster_id"] != 2])
    with pytest.raises(ValueError, match="lacks columns"):
        clustering.preparation_from_centroid_table(table.drop(columns="transform"))
