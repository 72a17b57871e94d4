"""Naming clustered segments after the persona catalogue, deterministically, with an honest fit.

The personas are data, not code: the seeds ``persona_catalogue`` (one row per persona: key,
name, kind, care action, outreach priority) and ``persona_signatures`` (one row per persona and
feature: a signed weight) are read by the dbt model ``segment_personas`` and handed here as
frames. Only personas of kind ``clustered`` name K-Means segments; a ``rule_defined`` persona
(e.g. "No hospital admission") is a segment defined by a rule in SQL and has no signature.

1. **Signatures** are defined at the level of the clustering *features*: a persona's signature
   is a vector over the features in standardized units (weight > 0: above the population
   mean, < 0: below it, magnitude: how much the feature defines the persona). Features of a
   signature that are not clustered are left out; a persona with none of its features
   clustered cannot be matched and is an error naming it.
2. **Fit** (``match_scores``): the cosine similarity between a segment's standardized centroid
   and the persona's signature, both over the clustered features. It lies in [-1, 1] whatever
   the number of features or the size of the weights: 1 is a centroid pointing exactly the way
   the signature does, 0 a centroid unrelated to it, below 0 the opposite profile. A segment at
   the population mean on every feature (a zero centroid) fits nothing: 0.
3. **Names.** With as many segments as clustered personas, segments and personas are matched
   one to one by the assignment that maximises the total fit (Hungarian algorithm,
   ``scipy.optimize.linear_sum_assignment``). With another k, a segment is named from its
   dominant care-need dimensions (``descriptive_name``) and takes its best-fitting persona
   (which may repeat) for the care action and outreach priority.
4. **Margin and weak matches.** ``persona_match_margin`` is the fit of the assigned persona
   minus the best fit among the other personas (negative when the one-to-one assignment gave
   the segment a persona that is not its best). A fit below ``min_match_score`` is flagged
   ``is_weak_persona_match``: the persona's name and action are then a poor description of the
   segment, and the report and ``segments`` mart say so.

Dimension scores (mean standardized centroid coordinate over the features of each care-need
dimension, as the feature catalogue assigns them) describe a segment in three numbers and build the
descriptive names; they do not decide the persona.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

UTILIZATION = "utilization"
COMPLEXITY = "complexity"
ACUITY = "acuity"
DIMENSIONS = (UTILIZATION, COMPLEXITY, ACUITY)

# A dimension score at or beyond +/- this many standard deviations names a segment.
DOMINANT_THRESHOLD = 0.5
# Default of var persona_min_match_score: below this cosine fit a persona match is weak.
DEFAULT_MIN_MATCH_SCORE = 0.5

CLUSTERED = "clustered"
RULE_DEFINED = "rule_defined"
PERSONA_KINDS = (CLUSTERED, RULE_DEFINED)

CATALOGUE_RULE = "catalogue assignment"
DESCRIPTIVE_RULE = "descriptive"

CATALOGUE_COLUMNS = ("persona_key", "persona_name", "persona_kind", "catalogue_order")
SIGNATURE_COLUMNS = ("persona_key", "feature_name", "weight")

SEGMENT_PERSONA_COLUMNS = (
    "cluster_id",
    "persona_name",
    "catalogue_persona_key",
    "catalogue_persona_name",
    "naming_rule",
    "persona_match_score",
    "runner_up_persona_name",
    "persona_match_margin",
    "is_weak_persona_match",
    "persona_min_match_score",
    "utilization_score",
    "complexity_score",
    "acuity_score",
)


@dataclass(frozen=True)
class Persona:
    """A clustered persona of the catalogue and its signature (feature -> signed weight)."""

    key: str
    name: str
    signature: Mapping[str, float]


def _require_columns(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} lacks columns {missing}")


def personas_from_catalogue(catalogue: pd.DataFrame, signatures: pd.DataFrame) -> tuple[Persona, ...]:
    """The clustered personas, in catalogue order, with their signatures.

    Raises ``ValueError`` naming the persona or row when the two seeds do not fit together:
    an unknown kind, a clustered persona without a signature, a rule-defined one with one, a
    signature row of an unknown persona, a feature listed twice, a zero or non-finite weight.
    """
    _require_columns(catalogue, CATALOGUE_COLUMNS, "persona catalogue")
    _require_columns(signatures, SIGNATURE_COLUMNS, "persona signatures")
    kinds = sorted(set(catalogue["persona_kind"]) - set(PERSONA_KINDS))
    if kinds:
        raise ValueError(
            f"persona catalogue has unknown persona_kind {kinds}; expected one of {PERSONA_KINDS}"
        )
    for column in ("persona_key", "persona_name"):
        repeated = sorted(catalogue.loc[catalogue[column].duplicated(), column])
        if repeated:
            raise ValueError(f"persona catalogue repeats {column} {repeated}")
    kind_of = dict(zip(catalogue["persona_key"], catalogue["persona_kind"], strict=True))
    unknown = sorted(set(signatures["persona_key"]) - set(kind_of))
    if unknown:
        raise ValueError(f"persona signatures name personas not in the catalogue: {unknown}")
    rule_signed = sorted(k for k in set(signatures["persona_key"]) if kind_of[k] == RULE_DEFINED)
    if rule_signed:
        raise ValueError(f"rule-defined personas have no signature, but {rule_signed} have signature rows")
    repeated = signatures[signatures.duplicated(["persona_key", "feature_name"], keep=False)]
    if not repeated.empty:
        pairs = sorted(set(zip(repeated["persona_key"], repeated["feature_name"], strict=True)))
        raise ValueError(f"persona signatures list a feature twice for a persona: {pairs}")
    weights = signatures["weight"].to_numpy(dtype="float64")
    bad = ~np.isfinite(weights) | (weights == 0)
    if bad.any():
        rows = signatures.loc[bad, ["persona_key", "feature_name"]].to_numpy().tolist()
        raise ValueError(f"persona signature weights must be finite and non-zero: {rows}")

    clustered = catalogue[catalogue["persona_kind"] == CLUSTERED]
    clustered = clustered.sort_values("catalogue_order", kind="mergesort")
    result = []
    for key, name in zip(clustered["persona_key"], clustered["persona_name"], strict=True):
        rows = signatures[signatures["persona_key"] == key]
        if rows.empty:
            raise ValueError(f"clustered persona {key!r} has no signature rows in persona_signatures")
        signature = {str(f): float(w) for f, w in zip(rows["feature_name"], rows["weight"], strict=True)}
        result.append(Persona(key=str(key), name=str(name), signature=signature))
    if not result:
        raise ValueError("persona catalogue has no clustered persona")
    return tuple(result)


def signature_matrix(features: Sequence[str], personas: Sequence[Persona]) -> np.ndarray:
    """``(n_features, n_personas)`` signature weights over ``features`` (0 where not listed)."""
    matrix = np.zeros((len(features), len(personas)), dtype="float64")
    position = {feature: i for i, feature in enumerate(features)}
    for column, persona in enumerate(personas):
        used = [f for f in persona.signature if f in position]
        if not used:
            raise ValueError(
                f"persona {persona.key!r} cannot be matched: none of its signature features "
                f"{sorted(persona.signature)} is among the clustering features {list(features)}"
            )
        for feature in used:
            matrix[position[feature], column] = persona.signature[feature]
    return matrix


def match_scores(centroids_scaled: pd.DataFrame, personas: Sequence[Persona]) -> pd.DataFrame:
    """Segment x persona matrix of cosine similarities (see the module docstring)."""
    signatures = signature_matrix(list(centroids_scaled.columns), personas)
    centroids = centroids_scaled.to_numpy(dtype="float64")
    centroid_norms = np.linalg.norm(centroids, axis=1, keepdims=True)
    signature_norms = np.linalg.norm(signatures, axis=0, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        cosine = (centroids @ signatures) / (centroid_norms * signature_norms)
    cosine = np.where(centroid_norms > 0, cosine, 0.0)
    return pd.DataFrame(
        np.clip(cosine, -1.0, 1.0), index=centroids_scaled.index, columns=[p.key for p in personas]
    )


def dimension_scores(centroids_scaled: pd.DataFrame, feature_dimensions: Mapping[str, str]) -> pd.DataFrame:
    """Per segment (index of ``centroids_scaled``), the mean standardized centroid per dimension."""
    unknown = sorted({d for d in feature_dimensions.values() if d not in DIMENSIONS})
    if unknown:
        raise ValueError(f"unknown dimensions {unknown}; expected one of {DIMENSIONS}")
    scores = {}
    for dimension in DIMENSIONS:
        columns = [c for c in centroids_scaled.columns if feature_dimensions.get(c) == dimension]
        scores[dimension] = (
            centroids_scaled[columns].mean(axis=1)
            if columns
            else pd.Series(0.0, index=centroids_scaled.index)
        )
    return pd.DataFrame(scores, index=centroids_scaled.index, dtype="float64")


def assign_catalogue_personas(scores: pd.DataFrame) -> pd.Series:
    """One persona (column) per segment (row), each used once, maximising the total fit."""
    if scores.shape[0] != scores.shape[1]:
        raise ValueError(
            f"one-to-one persona assignment needs as many segments as personas, got {scores.shape[0]} "
            f"segments and {scores.shape[1]} personas"
        )
    rows, cols = linear_sum_assignment(scores.to_numpy(dtype="float64"), maximize=True)
    return pd.Series(scores.columns[cols], index=scores.index[rows], dtype="object").sort_index()


def nearest_catalogue_personas(scores: pd.DataFrame) -> pd.Series:
    """Each segment's best-fitting persona (ties: catalogue order); personas may repeat."""
    return pd.Series(scores.columns[scores.to_numpy().argmax(axis=1)], index=scores.index, dtype="object")


def descriptive_name(scores: Mapping[str, float], threshold: float = DOMINANT_THRESHOLD) -> str:
    """A name from the dimensions at or beyond +/- ``threshold`` SD, strongest first.

    E.g. ``High acuity, high utilization``; ``Near-average utilization, complexity and
    acuity`` when no dimension stands out. Ties in strength keep the order of ``DIMENSIONS``.
    """
    dominant = [d for d in DIMENSIONS if abs(scores[d]) >= threshold]
    dominant.sort(key=lambda d: -abs(scores[d]))
    if not dominant:
        return "Near-average utilization, complexity and acuity"
    text = ", ".join(f"{'high' if scores[d] > 0 else 'low'} {d}" for d in dominant)
    return text[0].upper() + text[1:]


def _runner_up(scores: pd.DataFrame, assigned: pd.Series) -> tuple[list[object], list[float]]:
    """For each segment, the best persona other than its assigned one, and the fit margin."""
    names: list[object] = []
    margins: list[float] = []
    for segment in scores.index:
        others = scores.loc[segment].drop(assigned[segment])
        if others.empty:
            names.append(None)
            margins.append(float("nan"))
            continue
        best = others.to_numpy().argmax()  # first maximum: catalogue order breaks ties
        names.append(others.index[best])
        margins.append(float(scores.loc[segment, assigned[segment]] - others.iloc[best]))
    return names, margins


def name_segments(
    centroids_scaled: pd.DataFrame,
    personas: Sequence[Persona],
    feature_dimensions: Mapping[str, str],
    min_match_score: float = DEFAULT_MIN_MATCH_SCORE,
    threshold: float = DOMINANT_THRESHOLD,
) -> pd.DataFrame:
    """One row per segment (``SEGMENT_PERSONA_COLUMNS``), sorted by ``cluster_id``.

    ``centroids_scaled``: index ``cluster_id``, one column per clustering feature;
    ``feature_dimensions``: each feature's care-need dimension (the feature catalogue's).
    """
    if not -1.0 <= min_match_score <= 1.0:
        raise ValueError(f"min_match_score is a cosine similarity in [-1, 1], got {min_match_score}")
    scores = match_scores(centroids_scaled, personas)
    dimensions = dimension_scores(centroids_scaled, feature_dimensions)
    name_of = {p.key: p.name for p in personas}
    if len(scores) == len(personas):
        assigned = assign_catalogue_personas(scores)
        names = assigned.map(name_of)
        rule = CATALOGUE_RULE
    else:
        assigned = nearest_catalogue_personas(scores)
        names = pd.Series(
            [descriptive_name(dimensions.loc[c], threshold) for c in dimensions.index],
            index=dimensions.index,
            dtype="object",
        )
        # Two segments with the same dominant dimensions: say which segment is which.
        repeated = names.duplicated(keep=False)
        names[repeated] = [f"{n} (segment {c})" for c, n in names[repeated].items()]
        rule = DESCRIPTIVE_RULE
    fit = np.array([scores.loc[c, assigned[c]] for c in scores.index], dtype="float64")
    runner_up_keys, margins = _runner_up(scores, assigned)
    table = pd.DataFrame(
        {
            "cluster_id": np.asarray(scores.index, dtype="int64"),
            "persona_name": names.loc[scores.index].to_numpy(),
            "catalogue_persona_key": assigned.loc[scores.index].to_numpy(),
            "catalogue_persona_name": assigned.loc[scores.index].map(name_of).to_numpy(),
            "naming_rule": rule,
            "persona_match_score": fit,
            "runner_up_persona_name": [name_of.get(k) if k is not None else None for k in runner_up_keys],
            "persona_match_margin": np.asarray(margins, dtype="float64"),
            "is_weak_persona_match": fit < min_match_score,
            "persona_min_match_score": float(min_match_score),
            "utilization_score": dimensions[UTILIZATION].to_numpy(),
            "complexity_score": dimensions[COMPLEXITY].to_numpy(),
            "acuity_score": dimensions[ACUITY].to_numpy(),
        }
    )
    return table.sort_values("cluster_id", kind="mergesort").reset_index(drop=True)[
        list(SEGMENT_PERSONA_COLUMNS)
    ]
