"""Synthetic patients with planted persona groups, in the units of ``patient_features``.

Each group is generated from its own care-need profile (not from the persona rule), with
enough spread to be realistic and enough separation that a correct pipeline recovers it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

FEATURES = [
    "num_admissions",
    "avg_length_of_stay_days",
    "total_length_of_stay_days",
    "num_unique_icd_diagnoses",
    "icu_stay_count",
    "total_icu_days",
]

# Planted group -> (size, admissions range, avg LOS median, diagnoses median, ICU stays range,
# ICU days per stay median). Ranges are inclusive integer bounds.
PLANTED = {
    "Low-utilization, healthy": (300, (1, 1), 2.0, 5, (0, 0), 0.0),
    "Chronic but stable": (200, (1, 2), 3.0, 45, (0, 0), 0.0),
    "High-frequency, high-cost utilizers": (120, (10, 16), 4.0, 50, (0, 1), 1.0),
    "Acute and ICU-intensive": (120, (1, 2), 16.0, 20, (2, 4), 5.0),
}


def persona_patients(seed: int = 0, first_id: int = 10_000_000) -> pd.DataFrame:
    """One row per patient: ``subject_id``, the six features, and the planted ``group``.

    Rows are shuffled and ids are not in group order, so nothing leaks from the layout.
    """
    rng = np.random.default_rng(seed)
    frames = []
    for group, (size, admissions, los, diagnoses, icu, icu_days) in PLANTED.items():
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
    frame = pd.concat(frames, ignore_index=True)
    frame = frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    frame.insert(0, "subject_id", rng.permutation(np.arange(first_id, first_id + len(frame))))
    return frame
