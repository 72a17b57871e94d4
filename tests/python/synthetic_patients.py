"""Synthetic patients with planted groups, in the units of ``patient_features``.

Each group is generated from its own care-need profile (not from the persona rule), with
enough spread to be realistic and enough separation that a correct pipeline recovers it.
Groups are labelled with the ``persona_key`` of the catalogue persona they are planted to
resemble (``seeds/personas/persona_catalogue.csv``); the names live only in the catalogue.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mimic_segments.segmentation import personas

SEEDS = Path(__file__).resolve().parents[2] / "seeds" / "personas"

FEATURES = [
    "num_admissions",
    "avg_length_of_stay_days",
    "total_length_of_stay_days",
    "num_unique_icd_diagnoses",
    "icu_stay_count",
    "total_icu_days",
]

NEVER_ADMITTED = "never_admitted"

# Planted group -> (size, admissions range, avg LOS median, diagnoses median, ICU stays range,
# ICU days per stay median). Ranges are inclusive integer bounds.
PLANTED = {
    "low_utilization_healthy": (300, (1, 1), 2.0, 5, (0, 0), 0.0),
    "chronic_but_stable": (200, (1, 2), 3.0, 45, (0, 0), 0.0),
    "high_frequency_utilizers": (120, (10, 16), 4.0, 50, (0, 1), 1.0),
    "acute_icu_intensive": (120, (1, 2), 16.0, 20, (2, 4), 5.0),
}

# The same, but the chronic group replaced by one no persona describes: frequent, very short
# stays with few conditions (in and out), which only the leftover persona can take.
PLANTED_WITH_AN_UNDESCRIBED_GROUP = {
    **{key: value for key, value in PLANTED.items() if key != "chronic_but_stable"},
    "frequent_short_stays": (200, (5, 8), 0.5, 4, (0, 0), 0.0),
}


def catalogue() -> pd.DataFrame:
    return pd.read_csv(SEEDS / "persona_catalogue.csv")


def signatures() -> pd.DataFrame:
    return pd.read_csv(SEEDS / "persona_signatures.csv")


def clustered_personas() -> tuple[personas.Persona, ...]:
    """The shipped catalogue's clustered personas, read from the seeds as dbt reads them."""
    return personas.personas_from_catalogue(catalogue(), signatures())


def persona_patients(
    seed: int = 0,
    first_id: int = 10_000_000,
    planted: dict[str, tuple] | None = None,
    never_admitted_share: float = 0.0,
) -> pd.DataFrame:
    """One row per patient: ``subject_id``, the six features, and the planted ``group``.

    ``never_admitted_share`` adds registry patients without an admission (group
    ``NEVER_ADMITTED``, every feature 0) so that they make up that share of all rows, as in
    MIMIC-IV (38.7 % in release 3.1). Rows are shuffled and ids are not in group order, so
    nothing leaks from the layout.
    """
    rng = np.random.default_rng(seed)
    frames = []
    for group, (size, admissions, los, diagnoses, icu, icu_days) in (planted or PLANTED).items():
        num_admissions = rng.integers(admissions[0], admissions[1] + 1, size)
        avg_los = los * rng.lognormal(0.0, 0.15, size)
        icu_count = rng.integers(icu[0], icu[1] + 1, size)
        frames.append(
            pd.DataFrame(
                {
                    "num_admissions": num_admissions,
                    "avg_length_of_stay_days": avg_los,
                    "total_length_of_stay_days": avg_los * num_admissions,
                    "num_unique_icd_diagnoses": np.maximum(1, rng.poisson(diagnoses, size)),
                    "icu_stay_count": icu_count,
                    "total_icu_days": icu_count * icu_days * rng.lognormal(0.0, 0.15, size),
                    "group": group,
                }
            )
        )
    admitted = sum(len(f) for f in frames)
    never = round(admitted * never_admitted_share / (1.0 - never_admitted_share))
    if never:
        zeros = {feature: np.zeros(never) for feature in FEATURES}
        frames.append(pd.DataFrame({**zeros, "group": NEVER_ADMITTED}))
    frame = pd.concat(frames, ignore_index=True)
    frame = frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    frame.insert(0, "subject_id", rng.permutation(np.arange(first_id, first_id + len(frame))))
    return frame
