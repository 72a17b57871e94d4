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
   three care-need dimensions (``descriptive_names``) and takes its best-fitting persona
   (which may repeat) for the care action and outreach priority. A descriptive name states
   every dimension, always in the order utilization, complexity, acuity, with a level word
   from bands of the dimension score (``level``): ``High utilization, average complexity, low
   acuity``. Segments whose level words all agree carry each dimension's score inside the
   name, before the dimension's noun, with as many decimals as tell them apart (``High (+1.3
   SD) utilization, average (+0.1 SD) complexity, low (-0.7 SD) acuity``): no two segments
   share a name, no name is another's prefix, and no name ends in a qualifier that, removed,
   would leave two names equal.
4. **Margin and weak matches.** ``persona_match_margin`` is the fit of the assigned persona
   minus the best fit among the other personas (negative when the one-to-one assignment gave
   the segment a persona that is not its best). A fit below ``min_match_score`` is flagged
   ``is_weak_persona_match``: the persona's name and action are then a poor description of the
   segment, and the report and ``segments`` mart say so.

Dimension scores (mean standardized centroid coordinate over the features of each care-need
dimension, as the feature catalogue assigns them; 0 for a dimension without a clustered
feature) describe a segment in three numbers and build the descriptive names; they do not
decide the persona.
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

# The level bands of a dimension score (standard deviations from the average clustered
# patient), symmetric around 0: at or above HIGH_SD "high", at or above VERY_HIGH_SD "very
# high", at or below -HIGH_SD "low", at or below -VERY_HIGH_SD "very low", else "average".
HIGH_SD = 0.5
VERY_HIGH_SD = 1.5
LEVELS = ("very low", "low", "average", "high", "very high")
# Decimals of the scores a name shows to tell apart segments whose level words agree: from
# the first, one more at a time up to the last; beyond it (equal dimension scores) the
# segment's number leads the name.
SCORE_DECIMALS = (1, 2, 3)
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


def level(score: float) -> str:
    """The level word of a dimension score in SD (``LEVELS``, bands ``HIGH_SD`` and ``VERY_HIGH_SD``)."""
    if score >= VERY_HIGH_SD:
        return "very high"
    if score >= HIGH_SD:
        return "high"
    if score <= -VERY_HIGH_SD:
        return "very low"
    if score <= -HIGH_SD:
        return "low"
    return "average"


def _capitalized(text: str) -> str:
    return text[0].upper() + text[1:]


def _signed(score: float, decimals: int) -> str:
    """``+1.3``, ``-0.7``; ``0.0`` rather than ``-0.0`` or ``+0.0``."""
    text = f"{score:+.{decimals}f}"
    return text[1:] if float(text) == 0 else text


def descriptive_name(scores: Mapping[str, float]) -> str:
    """Every dimension's level, in the order of ``DIMENSIONS``.

    E.g. ``High utilization, average complexity, low acuity``.
    """
    return _capitalized(", ".join(f"{level(scores[d])} {d}" for d in DIMENSIONS))


def scored_name(scores: Mapping[str, float], decimals: int = 1) -> str:
    """``descriptive_name`` with each dimension's score in SD before its noun.

    E.g. ``High (+1.3 SD) utilization, average (+0.1 SD) complexity, low (-0.7 SD) acuity``:
    the name ends in a dimension, never in a bracket, so two names whose scores differ in acuity
    only still differ once a trailing bracket would be removed.
    """
    return _capitalized(
        ", ".join(f"{level(scores[d])} ({_signed(scores[d], decimals)} SD) {d}" for d in DIMENSIONS)
    )


def descriptive_names(dimensions: pd.DataFrame) -> pd.Series:
    """Each segment's descriptive name (``dimensions``: ``dimension_scores``), all distinct.

    Segments whose level words all agree get ``scored_name`` with the fewest decimals of
    ``SCORE_DECIMALS`` that tell that group apart; if even the last cannot (equal dimension
    scores), ``Segment <cluster_id>: `` leads each of the group's names.
    """
    names = pd.Series(
        [descriptive_name(dimensions.loc[c]) for c in dimensions.index],
        index=dimensions.index,
        dtype="object",
    )
    for plain in names[names.duplicated(keep=False)].unique():
        group = names.index[names == plain]
        for decimals in SCORE_DECIMALS:
            scored = [scored_name(dimensions.loc[c], decimals) for c in group]
            if len(set(scored)) == len(scored):
                break
        else:
            scored = [f"Segment {c}: {name}" for c, name in zip(group, scored, strict=True)]
        names[group] = scored
    return names


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
        names = descriptive_names(dimensions)
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
