"""Choosing the number of segments k: diagnostics for every k, and a documented rule.

``compute_diagnostics`` fits K-Means for each k of a range on the standardized matrix and
measures, per k:

- ``inertia``: within-cluster sum of squares (lower is tighter; always falls with k, so it is
  read as an elbow curve, not maximised);
- ``silhouette``: mean silhouette width, in [-1, 1] (higher: better separated);
- ``calinski_harabasz``: between/within dispersion ratio (higher: better separated);
- ``davies_bouldin``: mean worst-case cluster similarity (lower: better separated);
- ``smallest_cluster_share``: the smallest cluster's share of the rows fitted;
- ``stability_mean_ari`` / ``stability_min_ari``: agreement (adjusted Rand index) between
  the reference fit and refits on bootstrap resamples, each refit labelling the same rows.

Bounded cost at scale: every fit uses one fixed-seed random sample of at most
``sample_size`` rows (all rows when there are fewer), and the silhouette, which is O(n^2),
uses a fixed-seed subsample of at most ``silhouette_sample_size`` of those, the same rows
for every k, so their distance matrix (8 n^2 bytes: 200 MB at the default 5,000) is computed
once and shared. Both sizes are recorded per k. The bootstrap resamples are drawn once and
shared by every k, so the stability of different k is compared on the same resamples. Each
fit runs single-threaded, and the k values side by side, one per core (see
``compute_diagnostics``).

``select_k`` applies the selection rule (see ``SelectionRule``) and records, for every k,
whether it was eligible and why it was or was not chosen.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.metrics import (
    adjusted_rand_score,
    calinski_harabasz_score,
    davies_bouldin_score,
    pairwise_distances,
    silhouette_score,
)
from threadpoolctl import threadpool_limits

from mimic_segments.segmentation.settings import AUTO

DIAGNOSTICS_COLUMNS = (
    "k",
    "fit_sample_size",
    "inertia",
    "silhouette",
    "silhouette_sample_size",
    "calinski_harabasz",
    "davies_bouldin",
    "smallest_cluster_share",
    "stability_mean_ari",
    "stability_min_ari",
    "stability_resamples",
)
SELECTION_COLUMNS = (
    "rule_min_stability",
    "rule_min_segment_share",
    "is_eligible",
    "is_auto_choice",
    "is_chosen",
    "selection_mode",
    "selection_reason",
)


@dataclass(frozen=True)
class DiagnosticsSettings:
    """How the diagnostics are computed. Sizes bound the cost on large populations."""

    k_values: tuple[int, ...]
    random_state: int = 42
    n_init: int = 10
    sample_size: int = 20_000
    silhouette_sample_size: int = 5_000
    stability_resamples: int = 10
    stability_n_init: int = 3

    def __post_init__(self) -> None:
        if not self.k_values:
            raise ValueError("k_values is empty")
        bad = [
            k for k in self.k_values if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 2
        ]
        if bad:
            raise ValueError(f"every k must be an integer >= 2, got {bad}")
        if len(set(self.k_values)) != len(self.k_values):
            raise ValueError(f"k_values has duplicates: {list(self.k_values)}")
        for name in (
            "n_init",
            "sample_size",
            "silhouette_sample_size",
            "stability_resamples",
            "stability_n_init",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.silhouette_sample_size < 3:
            raise ValueError("silhouette_sample_size must be >= 3")


@dataclass(frozen=True)
class SelectionRule:
    """The ``auto`` rule for k.

    A k is *eligible* when its solution is stable (``stability_mean_ari >= min_stability``)
    and has no tiny segment (``smallest_cluster_share >= min_cluster_share``). Among eligible
    k, the highest silhouette wins (a tie: the smaller k, the simpler model). When no k is
    eligible, the most stable k wins (a tie: the smaller k), and the reason says so.
    """

    min_stability: float = 0.80
    min_cluster_share: float = 0.05


def k_values_for(k_min: int, k_max: int, k: int | str) -> tuple[int, ...]:
    """The k evaluated: ``k_min..k_max``, plus a fixed ``k`` outside that range."""
    k_min, k_max = int(k_min), int(k_max)
    if k_min < 2 or k_max < k_min:
        raise ValueError(f"k range must satisfy 2 <= k_min <= k_max, got {k_min}..{k_max}")
    values = set(range(k_min, k_max + 1))
    if k != AUTO:
        values.add(int(k))
    return tuple(sorted(values))


def sample_indices(n_rows: int, size: int, seed: Sequence[int] | int) -> np.ndarray:
    """Sorted indices of a fixed-seed sample without replacement (all rows if ``size >= n_rows``)."""
    if size >= n_rows:
        return np.arange(n_rows)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_rows, size=size, replace=False))


def bootstrap_resamples(n_rows: int, count: int, random_state: int) -> list[np.ndarray]:
    """``count`` bootstrap resamples (rows drawn with replacement), fixed by ``random_state``."""
    return [np.random.default_rng((random_state, 1, b)).integers(0, n_rows, n_rows) for b in range(count)]


@dataclass(frozen=True)
class SilhouetteRows:
    """The rows every k's silhouette is measured on, and their pairwise distances.

    The silhouette subsample is the same for every k (only the labels differ), so the
    O(n^2) distance matrix is computed once and shared by all k instead of once per k:
    about two thirds of the diagnostics' time at the default sizes.
    """

    rows: np.ndarray
    distances: np.ndarray

    @classmethod
    def of(cls, sample: np.ndarray, size: int, random_state: int) -> SilhouetteRows:
        rows = sample_indices(len(sample), size, (random_state, 2))
        return cls(rows, pairwise_distances(sample[rows], metric="euclidean"))


def _silhouette(labels: np.ndarray, silhouette_rows: SilhouetteRows) -> tuple[float, int]:
    """Silhouette on the shared subsample; NaN when it holds a single cluster (or all singletons)."""
    rows = silhouette_rows.rows
    sub_labels = labels[rows]
    if len(np.unique(sub_labels)) < 2 or len(np.unique(sub_labels)) >= len(rows):
        return float("nan"), len(rows)
    return float(silhouette_score(silhouette_rows.distances, sub_labels, metric="precomputed")), len(rows)


def diagnose_k(
    sample: np.ndarray,
    k: int,
    settings: DiagnosticsSettings,
    resamples: Sequence[np.ndarray],
    silhouette_rows: SilhouetteRows,
) -> dict[str, float | int]:
    """All diagnostics of one k on the (already sampled) standardized matrix.

    ``resamples`` and ``silhouette_rows`` are shared by every k (see ``compute_diagnostics``).
    """
    if k > len(sample):
        raise ValueError(f"k = {k} exceeds the {len(sample)} rows available")
    reference = KMeans(n_clusters=k, random_state=settings.random_state, n_init=settings.n_init).fit(sample)
    labels = np.asarray(reference.labels_)
    sizes = np.bincount(labels, minlength=k)
    distinct = len(np.unique(labels))
    separated = 1 < distinct < len(sample)
    silhouette, silhouette_size = _silhouette(labels, silhouette_rows)
    agreements = []
    for b, rows in enumerate(resamples):
        refit = KMeans(
            n_clusters=k, random_state=settings.random_state + 1 + b, n_init=settings.stability_n_init
        )
        refit.fit(sample[rows])
        agreements.append(adjusted_rand_score(labels, refit.predict(sample)))
    return {
        "k": int(k),
        "fit_sample_size": len(sample),
        "inertia": float(reference.inertia_),
        "silhouette": silhouette,
        "silhouette_sample_size": silhouette_size,
        "calinski_harabasz": float(calinski_harabasz_score(sample, labels)) if separated else float("nan"),
        "davies_bouldin": float(davies_bouldin_score(sample, labels)) if separated else float("nan"),
        "smallest_cluster_share": float(sizes.min() / len(sample)),
        "stability_mean_ari": float(np.mean(agreements)),
        "stability_min_ari": float(np.min(agreements)),
        "stability_resamples": len(agreements),
    }


def compute_diagnostics(scaled: np.ndarray, settings: DiagnosticsSettings) -> pd.DataFrame:
    """One row per k (ascending) with ``DIAGNOSTICS_COLUMNS``.

    ``scaled`` is the standardized matrix of the whole population, rows in a stable order
    (sorted by patient id), so the fixed-seed sample is reproducible.
    """
    matrix = np.ascontiguousarray(scaled, dtype="float64")
    if matrix.ndim != 2 or len(matrix) == 0:
        raise ValueError("scaled must be a non-empty 2-D matrix")
    too_large = [k for k in settings.k_values if k > len(matrix)]
    if too_large:
        raise ValueError(f"k values {too_large} exceed the number of rows ({len(matrix)})")
    sample = matrix[sample_indices(len(matrix), settings.sample_size, (settings.random_state, 0))]
    resamples = bootstrap_resamples(len(sample), settings.stability_resamples, settings.random_state)
    silhouette_rows = SilhouetteRows.of(sample, settings.silhouette_sample_size, settings.random_state)
    # Each fit single-threaded: these many small fits are dominated by OpenMP start-up and
    # spin-waiting when cores are busy. The k values are independent, so they run side by side
    # on the machine's cores instead (sklearn's fitting loops release the GIL); every fit is
    # seeded, so the rows are the same in any order and with any number of workers.
    k_values = sorted(settings.k_values)
    workers = max(1, min(len(k_values), os.cpu_count() or 1))
    with threadpool_limits(limits=1), ThreadPoolExecutor(max_workers=workers) as pool:
        rows = list(pool.map(lambda k: diagnose_k(sample, k, settings, resamples, silhouette_rows), k_values))
    return pd.DataFrame(rows, columns=list(DIAGNOSTICS_COLUMNS))


def _format(value: float) -> str:
    return "n/a" if np.isnan(value) else f"{value:.3f}"


def select_k(diagnostics: pd.DataFrame, k: int | str, rule: SelectionRule) -> pd.DataFrame:
    """Apply the selection rule; return ``diagnostics`` plus ``SELECTION_COLUMNS``.

    ``rule_min_stability`` / ``rule_min_segment_share`` record the rule's thresholds on every
    row. ``is_auto_choice`` marks the k the ``auto`` rule picks, whatever the mode; ``is_chosen``
    marks the k used (the fixed ``k`` in fixed mode). ``selection_reason`` explains every row.
    """
    table = diagnostics.sort_values("k", kind="mergesort").reset_index(drop=True).copy()
    stable = table["stability_mean_ari"] >= rule.min_stability
    no_tiny = table["smallest_cluster_share"] >= rule.min_cluster_share
    table["rule_min_stability"] = float(rule.min_stability)
    table["rule_min_segment_share"] = float(rule.min_cluster_share)
    table["is_eligible"] = (stable & no_tiny & table["silhouette"].notna()).astype(bool)

    eligible = table[table["is_eligible"]]
    if not eligible.empty:
        best = eligible.sort_values(["silhouette", "k"], ascending=[False, True], kind="mergesort").iloc[0]
        auto_k = int(best["k"])
        auto_reason = (
            f"highest silhouette ({_format(best['silhouette'])}) among the k that are stable "
            f"(mean bootstrap ARI >= {rule.min_stability:.2f}) and have no segment below "
            f"{rule.min_cluster_share:.0%} of patients"
        )
    else:
        best = table.sort_values(["stability_mean_ari", "k"], ascending=[False, True], kind="mergesort").iloc[
            0
        ]
        auto_k = int(best["k"])
        auto_reason = (
            f"no k is both stable (mean bootstrap ARI >= {rule.min_stability:.2f}) and free of "
            f"segments below {rule.min_cluster_share:.0%}; fallback: the most stable k "
            f"(mean ARI {_format(best['stability_mean_ari'])})"
        )
    table["is_auto_choice"] = table["k"] == auto_k

    if k == AUTO:
        chosen_k, mode = auto_k, AUTO
    else:
        chosen_k, mode = int(k), "fixed"
        if chosen_k not in set(table["k"]):
            raise ValueError(f"fixed k = {chosen_k} has no diagnostics row")
    table["is_chosen"] = table["k"] == chosen_k
    table["selection_mode"] = mode

    reasons = []
    for row in table.itertuples(index=False):
        problems = []
        if not row.stability_mean_ari >= rule.min_stability:
            problems.append(
                f"unstable (mean ARI {_format(row.stability_mean_ari)} < {rule.min_stability:.2f})"
            )
        if not row.smallest_cluster_share >= rule.min_cluster_share:
            share, minimum = row.smallest_cluster_share, rule.min_cluster_share
            problems.append(f"smallest segment {share:.1%} < {minimum:.0%} of patients")
        if np.isnan(row.silhouette):
            problems.append("silhouette undefined")
        status = "eligible" if row.is_eligible else "not eligible: " + "; ".join(problems)
        if row.is_chosen and mode == AUTO:
            reason = f"chosen by the auto rule: {auto_reason}"
        elif row.is_chosen:
            auto_note = (
                "the auto rule agrees" if row.is_auto_choice else f"the auto rule would choose k = {auto_k}"
            )
            reason = f"chosen: fixed by var cluster_k = {chosen_k} ({status}; {auto_note})"
        elif row.is_auto_choice:
            reason = f"auto rule's choice, not used because k is fixed: {auto_reason}"
        else:
            reason = status
        reasons.append(reason)
    table["selection_reason"] = reasons
    return table[[*DIAGNOSTICS_COLUMNS, *SELECTION_COLUMNS]]


def chosen_k(selection: pd.DataFrame) -> int:
    """The single k marked ``is_chosen`` in a ``select_k`` table."""
    chosen = selection.loc[selection["is_chosen"].astype(bool), "k"].tolist()
    if len(chosen) != 1:
        raise ValueError(f"expected exactly one chosen k in the diagnostics, found {chosen}")
    return int(chosen[0])
