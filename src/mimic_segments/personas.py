"""Naming segments from their centroid profiles, deterministically.

1. **Dimension scores.** Each clustering feature belongs to one care-need dimension
   (``FEATURE_DIMENSIONS``): *utilization* (how often and how long the patient is in
   hospital), *complexity* (how many distinct conditions are coded) or *acuity* (how sick the
   patient is when admitted: ICU use and long stays). A segment's score on a dimension is the
   mean of its standardized centroid coordinates over that dimension's features (0 when the
   dimension has none). Features outside the map (e.g. demographics) do not name segments.
2. **Persona scores.** Each catalogue persona has a signature over the three dimensions
   (``SEED_PERSONAS``), scaled to unit length so that no persona wins by having more
   non-zero weights. A segment's score for a persona is the dot product of its dimension
   scores with that signature.
3. **Names.** With exactly as many segments as personas (k = 4), segments and personas are
   matched one to one by the assignment that maximises the total score (Hungarian algorithm,
   ``scipy.optimize.linear_sum_assignment``): every persona is used once, whatever the
   cluster numbers. For any other k, a segment is named from its dominant dimensions
   (``descriptive_name``), and ``catalogue_persona`` is its highest-scoring persona (which
   may repeat), so that every segment still maps to a care-management action.
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

# Which care-need dimension each clustering feature measures.
FEATURE_DIMENSIONS: Mapping[str, str] = {
    "num_admissions": UTILIZATION,
    "total_length_of_stay_days": UTILIZATION,
    "readmissions_30d": UTILIZATION,
    "ed_visit_count": UTILIZATION,
    "num_unique_icd_diagnoses": COMPLEXITY,
    "charlson_condition_score": COMPLEXITY,
    "charlson_comorbidity_index": COMPLEXITY,
    "num_chronic_conditions": COMPLEXITY,
    "icu_stay_count": ACUITY,
    "total_icu_days": ACUITY,
    # a long average stay marks severe episodes rather than frequent ones
    "avg_length_of_stay_days": ACUITY,
    # admissions through the emergency route mark acute presentations
    "emergency_admission_share": ACUITY,
}

# A dimension score at or beyond +/- this many standard deviations names a segment.
DOMINANT_THRESHOLD = 0.5

CATALOGUE_RULE = "catalogue assignment"
DESCRIPTIVE_RULE = "descriptive"


@dataclass(frozen=True)
class Persona:
    """A catalogue persona and its signature over ``DIMENSIONS`` (before unit scaling)."""

    name: str
    signature: tuple[float, float, float]

    def unit_signature(self) -> np.ndarray:
        vector = np.asarray(self.signature, dtype="float64")
        return vector / np.linalg.norm(vector)


# The seed project's four personas, in catalogue order. Signatures: (utilization, complexity, acuity).
SEED_PERSONAS: tuple[Persona, ...] = (
    # below average on every dimension
    Persona("Low-utilization, healthy", (-1.0, -1.0, -1.0)),
    # many conditions, but neither frequent nor acute admissions
    Persona("Chronic but stable", (-1.0, 1.0, -1.0)),
    # defined by how much hospital care they use
    Persona("High-frequency, high-cost utilizers", (1.0, 0.0, 0.0)),
    # defined by how severe their episodes are
    Persona("Acute and ICU-intensive", (0.0, 0.0, 1.0)),
)

SEGMENT_PERSONA_COLUMNS = (
    "cluster_id",
    "persona_name",
    "catalogue_persona_name",
    "naming_rule",
    "persona_match_score",
    "utilization_score",
    "complexity_score",
    "acuity_score",
)


def dimension_scores(
    centroids_scaled: pd.DataFrame, feature_dimensions: Mapping[str, str] = FEATURE_DIMENSIONS
) -> pd.DataFrame:
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
    if not any(feature_dimensions.get(c) for c in centroids_scaled.columns):
        raise ValueError(
            f"none of the clustering features {list(centroids_scaled.columns)} has a dimension; "
            f"personas need at least one of {sorted(feature_dimensions)}"
        )
    return pd.DataFrame(scores, index=centroids_scaled.index, dtype="float64")


def persona_scores(dimensions: pd.DataFrame, personas: Sequence[Persona] = SEED_PERSONAS) -> pd.DataFrame:
    """Segment x persona matrix: dimension scores dotted with each unit signature."""
    signatures = np.stack([p.unit_signature() for p in personas], axis=1)
    values = dimensions[list(DIMENSIONS)].to_numpy(dtype="float64") @ signatures
    return pd.DataFrame(values, index=dimensions.index, columns=[p.name for p in personas])


def assign_catalogue_personas(scores: pd.DataFrame) -> pd.Series:
    """One persona per segment, each persona used once, maximising the total score."""
    if scores.shape[0] != scores.shape[1]:
        raise ValueError(
            f"one-to-one persona assignment needs as many segments as personas, got {scores.shape[0]} "
            f"segments and {scores.shape[1]} personas"
        )
    rows, cols = linear_sum_assignment(scores.to_numpy(dtype="float64"), maximize=True)
    names = pd.Series(scores.columns[cols], index=scores.index[rows], dtype="object")
    return names.sort_index()


def nearest_catalogue_personas(scores: pd.DataFrame) -> pd.Series:
    """Each segment's highest-scoring persona (ties: catalogue order); personas may repeat."""
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
    parts = [f"{'high' if scores[d] > 0 else 'low'} {d}" for d in dominant]
    text = ", ".join(parts)
    return text[0].upper() + text[1:]


def name_segments(
    centroids_scaled: pd.DataFrame,
    personas: Sequence[Persona] = SEED_PERSONAS,
    feature_dimensions: Mapping[str, str] = FEATURE_DIMENSIONS,
    threshold: float = DOMINANT_THRESHOLD,
) -> pd.DataFrame:
    """One row per segment (``SEGMENT_PERSONA_COLUMNS``), sorted by ``cluster_id``.

    ``centroids_scaled``: index ``cluster_id``, one column per clustering feature.
    ``persona_match_score`` is the segment's score for ``catalogue_persona_name``.
    """
    dimensions = dimension_scores(centroids_scaled, feature_dimensions)
    scores = persona_scores(dimensions, personas)
    if len(scores) == len(personas):
        catalogue = assign_catalogue_personas(scores)
        names = catalogue.copy()
        rule = CATALOGUE_RULE
    else:
        catalogue = nearest_catalogue_personas(scores)
        names = pd.Series(
            [descriptive_name(dimensions.loc[c], threshold) for c in dimensions.index],
            index=dimensions.index,
            dtype="object",
        )
        # Two segments with the same dominant dimensions: say which segment is which.
        repeated = names.duplicated(keep=False)
        names[repeated] = [f"{n} (segment {c})" for c, n in names[repeated].items()]
        rule = DESCRIPTIVE_RULE
    match = [float(scores.loc[c, catalogue[c]]) for c in scores.index]
    table = pd.DataFrame(
        {
            "cluster_id": np.asarray(scores.index, dtype="int64"),
            "persona_name": names.loc[scores.index].to_numpy(),
            "catalogue_persona_name": catalogue.loc[scores.index].to_numpy(),
            "naming_rule": rule,
            "persona_match_score": match,
            "utilization_score": dimensions[UTILIZATION].to_numpy(),
            "complexity_score": dimensions[COMPLEXITY].to_numpy(),
            "acuity_score": dimensions[ACUITY].to_numpy(),
        }
    )
    return table.sort_values("cluster_id", kind="mergesort").reset_index(drop=True)[
        list(SEGMENT_PERSONA_COLUMNS)
    ]
