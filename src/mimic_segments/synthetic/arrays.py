"""Vectorised helpers the generator's draws share: sampling, positions within groups, year starts."""

from __future__ import annotations

import numpy as np
from scipy.special import ndtri


def sample_index(rng: np.random.Generator, probabilities: np.ndarray, size: int) -> np.ndarray:
    """Inverse-CDF sampling: fast for large ``size`` and identical for identical streams."""
    cdf = np.cumsum(probabilities)
    cdf /= cdf[-1]
    return np.searchsorted(cdf, rng.random(size), side="right").clip(0, len(cdf) - 1)


def sample_index_at(probabilities: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Inverse-CDF sampling at given uniforms ``u`` (e.g. from a copula)."""
    cdf = np.cumsum(probabilities)
    cdf /= cdf[-1]
    return np.searchsorted(cdf, u, side="right").clip(0, len(cdf) - 1)


def latent(rng: np.random.Generator, severity: np.ndarray, loading: float) -> np.ndarray:
    """A standard normal that correlates ``loading`` with ``severity`` (standard normal too):
    ``loading * severity + sqrt(1 - loading**2) * noise``."""
    return loading * severity + np.sqrt(1.0 - loading**2) * rng.standard_normal(severity.size)


def rank_uniform(values: np.ndarray) -> np.ndarray:
    """``(rank + 0.5) / n`` of each value (ties by position): uniform on (0, 1) whatever the
    values' distribution, in the values' order."""
    ranks = np.empty(values.size, dtype="float64")
    ranks[np.argsort(values, kind="stable")] = np.arange(values.size)
    return (ranks + 0.5) / max(values.size, 1)


def normal_scores(values: np.ndarray) -> np.ndarray:
    """Standard normal quantiles of the values' ranks: exactly the normal's shape whatever the
    values' distribution (a severity-weighted mix of admissions is not standard normal)."""
    return ndtri(rank_uniform(values))


def group_position(group_sizes: np.ndarray) -> np.ndarray:
    """0-based position of each row within its group, groups laid out consecutively."""
    starts = np.repeat(np.cumsum(group_sizes) - group_sizes, group_sizes)
    return np.arange(int(group_sizes.sum()), dtype="int64") - starts


def group_start(group_sizes: np.ndarray) -> np.ndarray:
    """Index of the first row of each row's group, groups laid out consecutively."""
    return np.repeat(np.cumsum(group_sizes) - group_sizes, group_sizes)


def chained_starts(first_start: np.ndarray, group_sizes: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """Start of each row of consecutive groups: row k of a group starts ``steps[1..k]`` after
    the group's ``first_start`` (``steps`` of a group's first row is ignored)."""
    first = group_start(group_sizes)
    cumulative = np.cumsum(steps)
    return first_start + cumulative - cumulative[first]


def cap_to_room(group: np.ndarray, values: np.ndarray, room: np.ndarray) -> np.ndarray:
    """Per group, the largest cap ``c`` with ``sum(min(values, c)) <= room`` (``inf`` when the
    values already fit): capping shortens the largest values first and leaves small ones as
    they are. ``room`` is indexed by group."""
    order = np.lexsort((values, group))
    group, values = group[order], values[order]
    n = room.size
    counts = np.bincount(group, minlength=n)
    position = group_position(counts)
    smaller = np.cumsum(values) - values
    smaller -= smaller[group_start(counts)]
    # capping at this value (it and every larger value of the group become this value)
    total_if_capped_here = smaller + (counts[group] - position) * values
    fits = total_if_capped_here <= room[group]
    n_fitting = np.bincount(group, fits, minlength=n).astype("int64")
    fitting_total = np.bincount(group, np.where(fits, values, 0), minlength=n)
    capped = counts - n_fitting
    return np.divide(room - fitting_total, capped, out=np.full(n, np.inf), where=capped > 0)


def year_start_seconds(years: np.ndarray) -> np.ndarray:
    """Seconds since 1970 at the start of each (real) year."""
    return (years.astype("int64") - 1970).astype("datetime64[Y]").astype("datetime64[s]").astype("int64")


def take(values: np.ndarray, index: np.ndarray, fill: int) -> np.ndarray:
    """``values[index]``, and ``fill`` where ``index`` is -1 (``values`` may be empty)."""
    out = np.full(index.shape, fill, dtype=values.dtype)
    found = index >= 0
    out[found] = values[index[found]]
    return out


def last_at_or_before(
    group: np.ndarray, times: np.ndarray, query_group: np.ndarray, query_times: np.ndarray
) -> np.ndarray:
    """For each query, the index of the last row of its group with ``times <= query_times``, or -1.

    Rows must be sorted by group, then time; times must be non-negative and below 2**32.
    """
    keys = group.astype("int64") << 32 | times.astype("int64")
    found = (
        np.searchsorted(keys, query_group.astype("int64") << 32 | query_times.astype("int64"), "right") - 1
    )
    return np.where(take(group, found, -1) == query_group, found, -1)
