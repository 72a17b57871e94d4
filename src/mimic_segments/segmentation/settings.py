"""The segmentation settings: one typed object, parsed and validated here only.

Three inputs make them, each defined once: the segmentation vars, which dbt hands to every
dbt Python model as one JSON config, ``segmentation_settings`` (one YAML anchor in
``python_models/_python_models.yml``; dbt passes a Python model only the configs named in
literal ``dbt.config.get`` calls, so one key means one call per adapter); the clustering
inputs, which are the columns of ``int_patients_prepared_for_segmentation`` (chosen there from
the feature catalogue); and each input's transform and care-need dimension, from the seed
``feature_catalogue``. ``SegmentationSettings.from_dbt`` combines them, checks every value and
names the one that is wrong; the pipeline's modules receive the typed object, never raw values
to parse.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

AUTO = "auto"
CARE_NEED_DIMENSIONS = ("utilization", "complexity", "acuity")
# K-Means initialisations of every full fit (not a var: more only costs time).
N_INIT = 10


def parse_k(value: object) -> int | str:
    """``auto`` (any case, surrounding spaces allowed) or an integer >= 2 (also given as text)."""
    if isinstance(value, str):
        text = value.strip()
        if text.lower() == AUTO:
            return AUTO
        try:
            value = int(text)
        except ValueError:
            raise ValueError(f"k must be an integer >= 2 or 'auto', got {text!r}") from None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 2:
        raise ValueError(f"k must be an integer >= 2 or 'auto', got {value!r}")
    return int(value)


def _integer(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool):
        raise ValueError(f"setting {name!r} must be an integer, got {value!r}")
    try:
        number = float(str(value).strip())
    except ValueError:
        raise ValueError(f"setting {name!r} must be an integer, got {value!r}") from None
    if not number.is_integer() or number < minimum:
        raise ValueError(f"setting {name!r} must be an integer >= {minimum}, got {value!r}")
    return int(number)


def _number(name: str, value: object, low: float, high: float) -> float:
    try:
        number = float(str(value).strip())
    except ValueError:
        raise ValueError(f"setting {name!r} must be a number, got {value!r}") from None
    if math.isnan(number) or not low <= number <= high:
        raise ValueError(f"setting {name!r} must be between {low} and {high}, got {value!r}")
    return number


def _names(name: str, value: object) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ValueError(f"setting {name!r} must be a list of feature names, got {value!r}")
    names = tuple(str(item).strip() for item in value)
    if any(not item for item in names) or len(set(names)) != len(names):
        raise ValueError(f"setting {name!r} has an empty or repeated feature name: {list(value)}")
    return names


@dataclass(frozen=True)
class SegmentationSettings:
    """Every knob of the segmentation, as dbt sets it from vars and the feature catalogue.

    No defaults for what a var sets: the values live in dbt_project.yml only.
    """

    features: tuple[str, ...]
    k: int | str
    k_min: int
    k_max: int
    random_state: int
    sample_size: int
    silhouette_sample_size: int
    stability_resamples: int
    min_stability: float
    min_cluster_share: float
    min_match_score: float
    log1p_features: tuple[str, ...] = ()
    feature_dimensions: Mapping[str, str] = field(default_factory=dict)
    n_init: int = N_INIT

    def __post_init__(self) -> None:
        if not self.features:
            raise ValueError("setting 'features' is empty: nothing to cluster")
        unknown = [f for f in self.log1p_features if f not in self.features]
        if unknown:
            raise ValueError(f"setting 'log1p_features' names features that are not clustered: {unknown}")
        bad = {f: d for f, d in self.feature_dimensions.items() if d not in CARE_NEED_DIMENSIONS}
        if bad:
            raise ValueError(
                f"setting 'feature_dimensions' has dimensions outside {CARE_NEED_DIMENSIONS}: {bad}"
            )
        if not 2 <= self.k_min <= self.k_max:
            raise ValueError(
                f"settings 'k_min'..'k_max' must satisfy 2 <= k_min <= k_max, got {self.k_min}..{self.k_max}"
            )

    @classmethod
    def from_dbt(
        cls, config: object, catalogue: pd.DataFrame, features: Sequence[str]
    ) -> SegmentationSettings:
        """The settings of a dbt Python model: its ``segmentation_settings`` config (JSON of the
        vars), the seed ``feature_catalogue`` and the clustering inputs (``features``, in order).

        A clustering input the catalogue does not list (a demographic encoding, or a column
        named by var ``cluster_features``) enters as is and names no care-need dimension.
        """
        values = _vars_from_json(config)
        names = _names("features", list(features))
        missing = [c for c in ("feature_name", "is_log1p", "dimension") if c not in catalogue.columns]
        if missing:
            raise ValueError(f"feature_catalogue lacks columns {missing}")
        rows = catalogue.set_index("feature_name")
        listed = [f for f in names if f in rows.index]
        return cls(
            features=names,
            log1p_features=tuple(f for f in listed if bool(rows.loc[f, "is_log1p"])),
            feature_dimensions={
                f: str(rows.loc[f, "dimension"])
                for f in listed
                if rows.loc[f, "dimension"] in CARE_NEED_DIMENSIONS
            },
            k=parse_k(values["k"]),
            k_min=_integer("k_min", values["k_min"], 2),
            k_max=_integer("k_max", values["k_max"], 2),
            random_state=_integer("random_state", values["random_state"], 0),
            sample_size=_integer("sample_size", values["sample_size"], 2),
            silhouette_sample_size=_integer("silhouette_sample_size", values["silhouette_sample_size"], 2),
            stability_resamples=_integer("stability_resamples", values["stability_resamples"], 0),
            min_stability=_number("min_stability", values["min_stability"], -1.0, 1.0),
            min_cluster_share=_number("min_cluster_share", values["min_cluster_share"], 0.0, 1.0),
            min_match_score=_number("min_match_score", values["min_match_score"], -1.0, 1.0),
        )


VAR_KEYS = (
    "k",
    "k_min",
    "k_max",
    "random_state",
    "sample_size",
    "silhouette_sample_size",
    "stability_resamples",
    "min_stability",
    "min_cluster_share",
    "min_match_score",
)


def _vars_from_json(text: object) -> Mapping[str, Any]:
    """The ``segmentation_settings`` config: a JSON object with exactly ``VAR_KEYS``."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError(
            "config 'segmentation_settings' is missing: python_models/_python_models.yml sets it "
            "on every segmentation model"
        )
    try:
        values = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"config 'segmentation_settings' is not JSON: {error}") from None
    if not isinstance(values, Mapping):
        raise ValueError("config 'segmentation_settings' must be a JSON object")
    unknown, missing = sorted(set(values) - set(VAR_KEYS)), sorted(set(VAR_KEYS) - set(values))
    if unknown or missing:
        raise ValueError(f"config 'segmentation_settings': unknown keys {unknown}, missing keys {missing}")
    return values
