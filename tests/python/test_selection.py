"""Unit tests for mimic_segments.segmentation.selection: diagnostics per k and the k selection rule."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs
from sklearn.metrics import silhouette_score
from sklearn.preprocessing import StandardScaler

from mimic_segments.segmentation import selection
from mimic_segments.segmentation.selection import (
    DiagnosticsSettings,
    SelectionRule,
    compute_diagnostics,
    sample_indices,
    select_k,
)


def blobs(k: int, n: int = 600, seed: int = 0) -> np.ndarray:
    values, _ = make_blobs(
        n_samples=n, n_features=5, centers=k, cluster_std=0.6, center_box=(-20.0, 20.0), random_state=seed
    )
    return StandardScaler().fit_transform(values)


@pytest.mark.parametrize("planted_k", [3, 5])
def test_auto_rule_picks_the_planted_k(planted_k: int) -> None:
    settings = DiagnosticsSettings(k_values=tuple(range(2, 9)), stability_resamples=5)
    table = select_k(compute_diagnostics(blobs(planted_k), settings), "auto", SelectionRule())
    assert selection.chosen_k(table) == planted_k
    chosen = table.set_index("k").loc[planted_k]
    assert chosen["stability_mean_ari"] > 0.99
    assert chosen["selection_mode"] == "auto"
    assert chosen["selection_reason"].startswith("chosen by the auto rule: highest silhouette")


def test_diagnostics_columns_and_values() -> None:
    settings = DiagnosticsSettings(k_values=(4, 2, 3), stability_resamples=3)
    table = compute_diagnostics(blobs(3, n=300), settings)
    assert list(table.columns) == list(selection.DIAGNOSTICS_COLUMNS)
    assert table["k"].tolist() == [2, 3, 4]
    assert (table["fit_sample_size"] == 300).all()
    assert (table["silhouette_sample_size"] == 300).all()
    assert (table["stability_resamples"] == 3).all()
    assert table["inertia"].is_monotonic_decreasing
    assert table["silhouette"].between(-1, 1).all()
    assert (table["smallest_cluster_share"] <= 1 / table["k"]).all()
    assert (table["stability_min_ari"] <= table["stability_mean_ari"]).all()
    by_k = table.set_index("k")
    # the planted k is the best separated by every index
    assert by_k["silhouette"].idxmax() == 3
    assert by_k["calinski_harabasz"].idxmax() == 3
    assert by_k["davies_bouldin"].idxmin() == 3


def test_large_inputs_are_sampled_and_sizes_recorded() -> None:
    settings = DiagnosticsSettings(
        k_values=(2, 3), sample_size=500, silhouette_sample_size=200, stability_resamples=2
    )
    table = compute_diagnostics(blobs(3, n=2_000), settings)
    assert table["fit_sample_size"].tolist() == [500, 500]
    assert table["silhouette_sample_size"].tolist() == [200, 200]


def test_shared_silhouette_distances_give_sklearns_silhouette_on_the_same_rows() -> None:
    """The distance matrix shared by every k changes the cost, not the silhouette."""
    settings = DiagnosticsSettings(k_values=(2, 3, 4), sample_size=600, silhouette_sample_size=250)
    matrix = blobs(3, n=600, seed=5)
    table = compute_diagnostics(matrix, settings).set_index("k")
    rows = sample_indices(600, 250, (settings.random_state, 2))
    for k in settings.k_values:
        reference = KMeans(n_clusters=k, random_state=settings.random_state, n_init=settings.n_init)
        labels = reference.fit(matrix).labels_
        expected = silhouette_score(matrix[rows], labels[rows])
        assert table.loc[k, "silhouette"] == pytest.approx(expected, rel=1e-12, abs=1e-12)


def test_diagnostics_are_identical_across_reruns() -> None:
    settings = DiagnosticsSettings(k_values=(2, 3, 4), sample_size=400, silhouette_sample_size=150)
    matrix = blobs(4, n=900, seed=3)
    first = select_k(compute_diagnostics(matrix, settings), "auto", SelectionRule())
    second = select_k(compute_diagnostics(matrix.copy(), settings), "auto", SelectionRule())
    pd.testing.assert_frame_equal(first, second)


def test_a_different_seed_draws_a_different_sample() -> None:
    matrix = blobs(3, n=2_000)
    tables = [
        compute_diagnostics(matrix, DiagnosticsSettings(k_values=(3,), sample_size=300, random_state=seed))
        for seed in (1, 2)
    ]
    assert tables[0]["inertia"].iloc[0] != tables[1]["inertia"].iloc[0]


def diagnostics_frame(rows: list[tuple[int, float, float, float]]) -> pd.DataFrame:
    """Hand-built diagnostics: (k, silhouette, smallest share, mean ARI)."""
    frame = pd.DataFrame(rows, columns=["k", "silhouette", "smallest_cluster_share", "stability_mean_ari"])
    for column in selection.DIAGNOSTICS_COLUMNS:
        if column not in frame:
            frame[column] = 1.0
    frame["stability_min_ari"] = frame["stability_mean_ari"]
    return frame[list(selection.DIAGNOSTICS_COLUMNS)]


RULE = SelectionRule(min_stability=0.8, min_cluster_share=0.05)


def test_rule_best_silhouette_among_eligible() -> None:
    frame = diagnostics_frame(
        [
            (2, 0.50, 0.40, 0.95),
            (3, 0.70, 0.03, 0.99),  # best silhouette, but a tiny segment
            (4, 0.60, 0.10, 0.70),  # unstable
            (5, 0.55, 0.08, 0.90),
        ]
    )
    table = select_k(frame, "auto", RULE).set_index("k")
    assert table["is_eligible"].tolist() == [True, False, False, True]
    assert table.index[table["is_chosen"]].tolist() == [5]
    assert "smallest segment 3.0% < 5%" in table.loc[3, "selection_reason"]
    assert "unstable (mean ARI 0.700 < 0.80)" in table.loc[4, "selection_reason"]
    assert table.loc[2, "selection_reason"] == "eligible"


def test_rule_tie_goes_to_the_smaller_k() -> None:
    frame = diagnostics_frame([(2, 0.4, 0.3, 0.9), (3, 0.6, 0.2, 0.9), (4, 0.6, 0.2, 0.9)])
    assert selection.chosen_k(select_k(frame, "auto", RULE)) == 3


def test_rule_falls_back_to_the_most_stable_k() -> None:
    frame = diagnostics_frame([(2, 0.9, 0.01, 0.95), (3, 0.5, 0.2, 0.60), (4, 0.4, 0.2, 0.70)])
    table = select_k(frame, "auto", RULE)
    assert not table["is_eligible"].any()
    assert selection.chosen_k(table) == 2
    reason = table.loc[table["is_chosen"], "selection_reason"].item()
    assert "no k is both stable" in reason and "most stable k" in reason


def test_fixed_k_is_used_and_the_auto_choice_still_recorded() -> None:
    frame = diagnostics_frame([(2, 0.5, 0.4, 0.9), (3, 0.3, 0.2, 0.6), (4, 0.2, 0.1, 0.5)])
    table = select_k(frame, 4, RULE).set_index("k")
    assert table.index[table["is_chosen"]].tolist() == [4]
    assert table.index[table["is_auto_choice"]].tolist() == [2]
    assert (table["selection_mode"] == "fixed").all()
    assert table.loc[4, "selection_reason"].startswith("chosen: fixed by var cluster_k = 4 (not eligible")
    assert "the auto rule would choose k = 2" in table.loc[4, "selection_reason"]
    assert table.loc[2, "selection_reason"].startswith("auto rule's choice, not used because k is fixed")


def test_fixed_k_without_diagnostics_is_an_error() -> None:
    with pytest.raises(ValueError, match="fixed k = 9 has no diagnostics row"):
        select_k(diagnostics_frame([(2, 0.5, 0.4, 0.9)]), 9, RULE)


def test_chosen_k_requires_exactly_one() -> None:
    with pytest.raises(ValueError, match="exactly one chosen k"):
        selection.chosen_k(pd.DataFrame({"k": [2, 3], "is_chosen": [True, True]}))


def test_k_values_for() -> None:
    assert selection.k_values_for(2, 8, "auto") == (2, 3, 4, 5, 6, 7, 8)
    assert selection.k_values_for(2, 8, 4) == (2, 3, 4, 5, 6, 7, 8)
    assert selection.k_values_for(2, 5, 10) == (2, 3, 4, 5, 10)
    with pytest.raises(ValueError, match="2 <= k_min <= k_max"):
        selection.k_values_for(5, 3, "auto")
    with pytest.raises(ValueError, match="2 <= k_min <= k_max"):
        selection.k_values_for(1, 3, "auto")


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"k_values": ()}, "k_values is empty"),
        ({"k_values": (1, 2)}, "integer >= 2"),
        ({"k_values": (2, 2)}, "duplicates"),
        ({"k_values": (2,), "stability_resamples": 0}, "stability_resamples must be >= 1"),
        ({"k_values": (2,), "silhouette_sample_size": 2}, "silhouette_sample_size must be >= 3"),
    ],
)
def test_settings_validation(kwargs, fragment) -> None:
    with pytest.raises(ValueError, match=fragment):
        DiagnosticsSettings(**kwargs)


def test_k_larger_than_the_rows_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"k values \[12\] exceed the number of rows \(10\)"):
        compute_diagnostics(blobs(2, n=10), DiagnosticsSettings(k_values=(2, 12)))
