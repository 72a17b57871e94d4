"""A MIMIC-shaped synthetic release: N patients in MIMIC-IV's official layout and columns.

Writes ``hosp/patients.csv.gz``, ``hosp/admissions.csv.gz``, ``hosp/diagnoses_icd.csv.gz``,
``hosp/d_icd_diagnoses.csv.gz`` (the codes it uses) and ``icu/icustays.csv.gz`` with exactly the
columns of the real files, so the project's full-release mode reads them as it reads MIMIC-IV.
No real patient is in it: every row is drawn from distributions fitted on the open demo
(``generator_params.json``, written by ``mimic_segments.synthetic.fit``; the fitted numbers are
tabulated in ``docs/generator.md``).

Shape, per patient (in real calendar time, then shifted like MIMIC):

* gender, anchor age (10-year bins, 91 = "older than 89"), an anchor year group drawn uniformly
  from the release's 3-year groups and a real anchor year in it; the shifted ``anchor_year`` is
  uniform over the demo's range and every date of the patient moves by the same whole number
  of years, so intervals within a patient are real and calendar years across patients are not;
* admissions: count per admitted patient, admission type, length of stay (log-normal per type),
  gaps between stays (log-normal), ED registration, in-hospital death on the last stay, and
  the demo's frequencies of locations, insurance, language, marital status and race; the first
  stay falls in the anchor year as for 98 of the demo's 100 patients, and stays after the
  release's last data year are not recorded;
* diagnoses: count per admission, ICD-9-CM before 1 October 2015 (the US switch date) and
  ICD-10-CM from then on, codes drawn by the demo's code frequencies, each code at most once
  per admission, ``seq_num`` 1..n;
* ICU stays: count per admission, time from admission to ICU, length of stay (log-normal),
  first care unit and the share of stays that change unit;
* deaths: in hospital (``deathtime``, ``hospital_expire_flag``, ``dod``) or after discharge
  (``dod``, log-normal days after the last discharge, kept only within the release's data years).

Volumes: the demo is 100 ICU patients, far heavier per patient than the full release. With
``volumes="release"`` (default) the per-patient counts keep the demo's shapes but are scaled to
the published totals of the chosen release: the share of patients with any admission (3.1:
223,452 of 364,627, so 38.7 % of the registry is never admitted, as in MIMIC-IV), admissions per
admitted patient (every admission after the first kept with one probability), the diagnoses
per admission (binomial thinning) and the share of admissions with an ICU stay.
``volumes="demo"`` keeps the demo's own rates.

Deterministic: the same seed and patient count give byte-identical files. Patients are made in
chunks of ``CHUNK_PATIENTS`` with a random stream per chunk, formatted by DuckDB and streamed
into one gzip member per file by a background thread, so memory stays bounded at any N.

Usage::

    python -m mimic_segments.synthetic.generator --patients 364627 --seed 42 --out data/generated/364627
        [--release 3.1] [--volumes release|demo]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import queue
import shutil
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import duckdb
import numpy as np
import pandas as pd

PARAMS_PATH = Path(__file__).with_name("generator_params.json")
CHUNK_PATIENTS = 50_000
COMPRESS_LEVEL = 6
SECONDS_PER_DAY = 86_400
FIRST_DATA_YEAR = 2008  # MIMIC-IV's first real year of data
ICD10_START = np.datetime64("2015-10-01T00:00:00", "s").astype("int64")  # US switch to ICD-10-CM
SUBJECT_ID_BASE = 10_000_000
HADM_ID_BASE = 20_000_000
STAY_ID_BASE = 30_000_000
ID_SPAN = 10_000_000  # MIMIC-IV keeps each id in its own 8-digit range
PROVIDER_POOL = 2_000
DEDUPLICATION_ROUNDS = 3
DATE_COLUMNS = frozenset({"dod"})  # written as dates; every other time column is a timestamp


@dataclass(frozen=True)
class ReleaseShape:
    """Published facts of a MIMIC-IV release: last data year, table sizes, admitted patients.

    ``admitted_patients`` is the number of distinct ``subject_id`` in ``hosp.admissions``: the
    rest of ``hosp.patients`` reached the hospital only through the emergency department or
    outpatient care and has no admission.
    """

    name: str
    last_data_year: int
    patients: int
    admissions: int
    diagnoses: int
    icustays: int
    admitted_patients: int

    @property
    def admitted_share(self) -> float:
        return self.admitted_patients / self.patients


# Row counts of the releases' tables (PhysioNet release pages); admitted patients: distinct
# subject_id of hosp.admissions (3.1: 223,452 of 364,627, i.e. 38.7 % never admitted; 2.2:
# 180,733 of 299,712, 39.7 %).
RELEASES: dict[str, ReleaseShape] = {
    "2.2": ReleaseShape("2.2", 2019, 299_712, 431_231, 4_756_326, 73_181, 180_733),
    "3.1": ReleaseShape("3.1", 2022, 364_627, 546_028, 6_364_488, 94_458, 223_452),
}

# Official column order of each generated file.
COLUMNS: dict[str, tuple[str, ...]] = {
    "hosp/patients": ("subject_id", "gender", "anchor_age", "anchor_year", "anchor_year_group", "dod"),
    "hosp/admissions": (
        "subject_id",
        "hadm_id",
        "admittime",
        "dischtime",
        "deathtime",
        "admission_type",
        "admit_provider_id",
        "admission_location",
        "discharge_location",
        "insurance",
        "language",
        "marital_status",
        "race",
        "edregtime",
        "edouttime",
        "hospital_expire_flag",
    ),
    "hosp/diagnoses_icd": ("subject_id", "hadm_id", "seq_num", "icd_code", "icd_version"),
    "hosp/d_icd_diagnoses": ("icd_code", "icd_version", "long_title"),
    "icu/icustays": (
        "subject_id",
        "hadm_id",
        "stay_id",
        "first_careunit",
        "last_careunit",
        "intime",
        "outtime",
        "los",
    ),
}


class GeneratorError(ValueError):
    """Invalid generator arguments or parameters."""


# --------------------------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Categorical:
    """A categorical distribution: values (``None`` for missing) and probabilities."""

    values: tuple[str | None, ...]
    probabilities: np.ndarray

    @classmethod
    def from_counts(cls, counts: dict[str, int]) -> Categorical:
        if not counts or sum(counts.values()) <= 0:
            raise GeneratorError("a categorical distribution needs positive counts")
        keys = sorted(counts)
        total = float(sum(counts.values()))
        return cls(
            values=tuple(key if key != "" else None for key in keys),
            probabilities=np.array([counts[key] / total for key in keys], dtype="float64"),
        )

    def sample_index(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return _sample_index(rng, self.probabilities, size)


@dataclass(frozen=True)
class IntDistribution:
    """A distribution over integers given by counts (keys are integers as strings)."""

    values: np.ndarray
    probabilities: np.ndarray

    @classmethod
    def from_counts(cls, counts: dict[str, int], minimum: int | None = None) -> IntDistribution:
        items = sorted((int(k), v) for k, v in counts.items() if minimum is None or int(k) >= minimum)
        if not items:
            raise GeneratorError("an integer distribution needs at least one value")
        values = np.array([k for k, _ in items], dtype="int64")
        weights = np.array([v for _, v in items], dtype="float64")
        return cls(values=values, probabilities=weights / weights.sum())

    @property
    def mean(self) -> float:
        return float((self.values * self.probabilities).sum())

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return self.values[_sample_index(rng, self.probabilities, size)]


@dataclass(frozen=True)
class LogNormal:
    mu: float
    sigma: float

    @classmethod
    def from_params(cls, params: dict[str, float]) -> LogNormal:
        return cls(mu=float(params["mu"]), sigma=float(params["sigma"]))

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return rng.lognormal(self.mu, self.sigma, size)


def _sample_index(rng: np.random.Generator, probabilities: np.ndarray, size: int) -> np.ndarray:
    """Inverse-CDF sampling: fast for large ``size`` and identical for identical streams."""
    cdf = np.cumsum(probabilities)
    cdf /= cdf[-1]
    return np.searchsorted(cdf, rng.random(size), side="right").clip(0, len(cdf) - 1)


@dataclass(frozen=True)
class Model:
    """Everything the generator samples from, built from the fitted JSON and a release shape."""

    release: ReleaseShape
    volumes: Literal["release", "demo"]
    female_share: float
    age_bins: tuple[tuple[int, int], ...]
    age_bin_probabilities: np.ndarray
    anchor_year_min: int
    anchor_year_max: int
    first_admission_offset: IntDistribution
    admitted_share: float
    admissions_per_patient: IntDistribution
    extra_admission_keep_share: float
    admission_type: Categorical
    los_by_type: tuple[LogNormal, ...]
    readmission_gap_days: LogNormal
    ed_share_by_type: np.ndarray
    ed_hours_before: LogNormal
    ed_hours_after: LogNormal
    hospital_death_share: float
    admission_location: Categorical
    discharge_location_alive: Categorical
    insurance: Categorical
    language: Categorical
    marital_status: Categorical
    race: Categorical
    dod_share_after_discharge: float
    dod_days_after_discharge: LogNormal
    diagnoses_per_admission: IntDistribution
    diagnosis_keep_share: float
    codes: dict[int, Categorical]
    icu_share: float
    icu_stays_given_any: IntDistribution
    icu_los_days: LogNormal
    icu_offset_days: LogNormal
    careunit: Categorical
    careunit_change_share: float
    providers: tuple[str, ...] = field(repr=False, default=())

    @property
    def anchor_year_groups(self) -> list[tuple[int, int]]:
        """The release's real 3-year windows, e.g. (2008, 2010) ... (2017, 2019)."""
        last = self.release.last_data_year
        return [(start, start + 2) for start in range(FIRST_DATA_YEAR, last - 1, 3)]


def load_params(path: Path = PARAMS_PATH) -> dict[str, Any]:
    return json.loads(path.read_text())


def build_model(
    params: dict[str, Any], release: str = "3.1", volumes: Literal["release", "demo"] = "release"
) -> Model:
    """Turn the fitted parameters into samplers, scaled to ``release``'s volumes if asked."""
    if release not in RELEASES:
        raise GeneratorError(f"unknown release {release!r}; expected one of {sorted(RELEASES)}")
    if volumes not in ("release", "demo"):
        raise GeneratorError(f"volumes must be 'release' or 'demo', got {volumes!r}")
    shape = RELEASES[release]
    p, a, d, i = params["patients"], params["admissions"], params["diagnoses"], params["icustays"]

    edges = [int(e) for e in p["anchor_age_bin_edges"]]
    bin_counts = p["anchor_age_bin_counts"]
    bins = tuple((low, high - 1) for low, high in itertools.pairwise(edges))
    age_weights = np.array([bin_counts.get(str(low), 0) for low, _ in bins], dtype="float64")

    admissions_per_patient = IntDistribution.from_counts(a["per_patient_counts"], minimum=1)
    diagnoses_per_admission = IntDistribution.from_counts(d["per_admission_counts"], minimum=1)
    icu_counts = IntDistribution.from_counts(i["per_admission_counts"])
    icu_given_any = IntDistribution.from_counts(i["per_admission_counts"], minimum=1)
    demo_icu_share = float(icu_counts.probabilities[icu_counts.values >= 1].sum())

    if volumes == "release":
        # The release's own share of patients with any admission; among them, the demo's count
        # distribution thinned (every admission after the first kept with one probability) to the
        # release's admissions per admitted patient.
        admitted_share = shape.admitted_share
        target_per_admitted = shape.admissions / shape.admitted_patients
        extra_admission_keep_share = min(
            1.0, (target_per_admitted - 1.0) / max(admissions_per_patient.mean - 1.0, 1e-12)
        )
        diagnosis_keep_share = min(1.0, (shape.diagnoses / shape.admissions) / diagnoses_per_admission.mean)
        icu_share = min(1.0, (shape.icustays / shape.admissions) / icu_given_any.mean)
    else:
        admitted_share, diagnosis_keep_share, icu_share = 1.0, 1.0, demo_icu_share
        extra_admission_keep_share = 1.0

    admission_type = Categorical.from_counts(a["admission_type_counts"])
    pooled = LogNormal.from_params(a["los_days_lognormal_pooled"])
    by_type = a["los_days_lognormal_by_type"]
    los_by_type = tuple(
        LogNormal.from_params(by_type[t]) if t in by_type else pooled for t in admission_type.values
    )
    ed_share = np.array([float(a["ed_share_by_type"].get(t, 0.0)) for t in admission_type.values])

    gender = p["gender_counts"]
    return Model(
        release=shape,
        volumes=volumes,
        female_share=gender.get("F", 0) / float(sum(gender.values())),
        age_bins=bins,
        age_bin_probabilities=age_weights / age_weights.sum(),
        anchor_year_min=int(p["anchor_year_min"]),
        anchor_year_max=int(p["anchor_year_max"]),
        first_admission_offset=IntDistribution.from_counts(p["first_admission_years_after_anchor_counts"]),
        admitted_share=admitted_share,
        admissions_per_patient=admissions_per_patient,
        extra_admission_keep_share=extra_admission_keep_share,
        admission_type=admission_type,
        los_by_type=los_by_type,
        readmission_gap_days=LogNormal.from_params(a["readmission_gap_days_lognormal"]),
        ed_share_by_type=ed_share,
        ed_hours_before=LogNormal.from_params(a["ed_hours_before_admission_lognormal"]),
        ed_hours_after=LogNormal.from_params(a["ed_hours_after_admission_lognormal"]),
        hospital_death_share=float(a["patients_with_hospital_death_share"]),
        admission_location=Categorical.from_counts(a["admission_location_counts"]),
        discharge_location_alive=Categorical.from_counts(a["discharge_location_counts_alive"]),
        insurance=Categorical.from_counts(a["insurance_counts"]),
        language=Categorical.from_counts(a["language_counts"]),
        marital_status=Categorical.from_counts(a["marital_status_counts"]),
        race=Categorical.from_counts(a["race_counts"]),
        dod_share_after_discharge=float(params["deaths"]["dod_share_without_hospital_death"]),
        dod_days_after_discharge=LogNormal.from_params(
            params["deaths"]["dod_days_after_last_discharge_lognormal"]
        ),
        diagnoses_per_admission=diagnoses_per_admission,
        diagnosis_keep_share=diagnosis_keep_share,
        codes={int(v): Categorical.from_counts(counts) for v, counts in d["code_counts"].items()},
        icu_share=icu_share,
        icu_stays_given_any=icu_given_any,
        icu_los_days=LogNormal.from_params(i["los_days_lognormal"]),
        icu_offset_days=LogNormal.from_params(i["intime_days_after_admission_lognormal"]),
        careunit=Categorical.from_counts(i["first_careunit_counts"]),
        careunit_change_share=float(i["careunit_change_share"]),
        providers=tuple(_provider_id(n) for n in range(PROVIDER_POOL)),
    )


def _provider_id(n: int) -> str:
    """A MIMIC-looking de-identified provider id: 'P' and 5 base-36 characters."""
    digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    value = (n * 7_919 + 104_729) % 36**5
    chars = []
    for _ in range(5):
        value, rest = divmod(value, 36)
        chars.append(digits[rest])
    return "P" + "".join(reversed(chars))


# --------------------------------------------------------------------------------------------
# One chunk of patients
# --------------------------------------------------------------------------------------------


def _year_start_seconds(years: np.ndarray) -> np.ndarray:
    return (years.astype("int64") - 1970).astype("datetime64[Y]").astype("datetime64[s]").astype("int64")


def _categorical_frame(values: Sequence[str | None], index: np.ndarray) -> pd.Categorical:
    """Strings by index into ``values`` (``None`` = missing), as a pandas Categorical."""
    categories = [v for v in values if v is not None]
    lookup = np.array([categories.index(v) if v is not None else -1 for v in values], dtype="int64")
    return pd.Categorical.from_codes(lookup[index], categories=categories)


def _timestamps(seconds: np.ndarray, present: np.ndarray | None = None) -> np.ndarray:
    out = seconds.astype("datetime64[s]")
    if present is not None:
        out = np.where(present, out, np.datetime64("NaT", "s"))
    return out


def _group_position(group_sizes: np.ndarray) -> np.ndarray:
    """0-based position of each row within its group, groups laid out consecutively."""
    starts = np.repeat(np.cumsum(group_sizes) - group_sizes, group_sizes)
    return np.arange(int(group_sizes.sum()), dtype="int64") - starts


@dataclass
class ChunkResult:
    tables: dict[str, pd.DataFrame]
    codes_used: set[tuple[int, str]]


def generate_chunk(
    model: Model, rng: np.random.Generator, first_subject: int, n: int, first_hadm: int, first_stay: int
) -> ChunkResult:
    """Generate ``n`` patients (ids from ``first_subject``) and all their rows."""
    release_end = int(_year_start_seconds(np.array([model.release.last_data_year + 1]))[0])

    # ---- patients ---------------------------------------------------------------------------
    subject_id = first_subject + np.arange(n, dtype="int64")
    female = rng.random(n) < model.female_share
    age_bin = _sample_index(rng, model.age_bin_probabilities, n)
    lows = np.array([b[0] for b in model.age_bins])[age_bin]
    highs = np.array([b[1] for b in model.age_bins])[age_bin]
    anchor_age = rng.integers(lows, highs + 1)
    groups = model.anchor_year_groups
    group = rng.integers(0, len(groups), n)
    group_start = np.array([g[0] for g in groups], dtype="int64")[group]
    real_anchor_year = group_start + rng.integers(0, 3, n)
    anchor_year = rng.integers(model.anchor_year_min, model.anchor_year_max + 1, n)
    shift = _year_start_seconds(anchor_year) - _year_start_seconds(real_anchor_year)
    group_labels = [f"{s} - {e}" for s, e in groups]

    # ---- admissions -------------------------------------------------------------------------
    admitted = rng.random(n) < model.admitted_share
    n_adm = np.where(admitted, model.admissions_per_patient.sample(rng, n), 0)
    if model.extra_admission_keep_share < 1.0:
        n_adm = np.where(
            admitted, 1 + rng.binomial(np.maximum(n_adm - 1, 0), model.extra_admission_keep_share), 0
        )
    first_year = np.minimum(
        real_anchor_year + model.first_admission_offset.sample(rng, n), model.release.last_data_year
    )
    first_admit = _year_start_seconds(first_year) + (rng.random(n) * 365 * SECONDS_PER_DAY).astype("int64")
    first_admit -= first_admit % 60
    total = int(n_adm.sum())
    owner = np.repeat(np.arange(n), n_adm)
    position = _group_position(n_adm)
    adm_type = model.admission_type.sample_index(rng, total)
    los = np.empty(total)
    for t, dist in enumerate(model.los_by_type):
        rows = np.flatnonzero(adm_type == t)
        los[rows] = dist.sample(rng, rows.size)
    los_s = np.maximum((los * SECONDS_PER_DAY).astype("int64") // 60 * 60, 60)
    gap_s = np.maximum(
        (model.readmission_gap_days.sample(rng, total) * SECONDS_PER_DAY).astype("int64"), 3600
    )
    # admission k starts a gap after stay k-1 ends; the first starts at first_admit
    gap_s = np.where(position == 0, 0, gap_s)
    previous_los = np.where(position == 0, 0, np.roll(los_s, 1))
    # The release ends with its last data year: where a patient's gaps would carry later stays
    # past it, that patient's gaps are shortened in proportion, so the count drawn is kept.
    room = release_end - 60 - first_admit - np.bincount(owner, previous_los, minlength=n)
    gap_total = np.bincount(owner, gap_s, minlength=n)
    factor = np.clip(np.divide(room, gap_total, out=np.ones(n), where=gap_total > 0), 0.0, 1.0)
    gap_s = (gap_s * factor[owner]).astype("int64") // 60 * 60
    step = previous_los + gap_s
    cumulative = np.cumsum(step)
    start_of_owner = np.repeat(np.cumsum(n_adm) - n_adm, n_adm)
    admit = first_admit[owner] + cumulative - cumulative[start_of_owner]
    # a stay that would still begin after the release's last data year is not in the release
    kept = admit < release_end
    owner, adm_type, los_s, admit = owner[kept], adm_type[kept], los_s[kept], admit[kept]
    n_adm = np.bincount(owner, minlength=n)
    total = int(n_adm.sum())
    discharge = admit + los_s
    is_last = _group_position(n_adm) == (n_adm[owner] - 1)
    died_patient = (rng.random(n) < model.hospital_death_share) & (n_adm > 0)
    died = is_last & died_patient[owner]
    has_ed = rng.random(total) < model.ed_share_by_type[adm_type]
    ed_before = (model.ed_hours_before.sample(rng, total) * 3600).astype("int64") // 60 * 60
    ed_after = (model.ed_hours_after.sample(rng, total) * 3600).astype("int64") // 60 * 60
    hadm_id = first_hadm + np.arange(total, dtype="int64")
    shift_adm = shift[owner]
    discharge_loc = model.discharge_location_alive.sample_index(rng, total)
    discharge_values = (*model.discharge_location_alive.values, "DIED")
    discharge_loc = np.where(died, len(discharge_values) - 1, discharge_loc)
    # demographics are per patient, repeated on each of their admissions
    insurance = model.insurance.sample_index(rng, n)[owner]
    language = model.language.sample_index(rng, n)[owner]
    marital = model.marital_status.sample_index(rng, n)[owner]
    race = model.race.sample_index(rng, n)[owner]
    provider = rng.integers(0, len(model.providers), total)

    # ---- deaths (patients.dod) --------------------------------------------------------------
    last_discharge = np.zeros(n, dtype="int64")
    np.maximum.at(last_discharge, owner, discharge)
    later_death = (n_adm > 0) & ~died_patient & (rng.random(n) < model.dod_share_after_discharge)
    later_days = np.maximum(model.dod_days_after_discharge.sample(rng, n), 1.0).astype("int64")
    dod_real = np.where(died_patient, last_discharge, last_discharge + later_days * SECONDS_PER_DAY)
    has_dod = died_patient | (later_death & (dod_real < release_end))
    dod = (dod_real + shift).astype("datetime64[s]").astype("datetime64[D]")
    dod = np.where(has_dod, dod, np.datetime64("NaT", "D"))

    patients = pd.DataFrame(
        {
            "subject_id": subject_id,
            "gender": pd.Categorical.from_codes(np.where(female, 0, 1), categories=["F", "M"]),
            "anchor_age": anchor_age.astype("int64"),
            "anchor_year": anchor_year.astype("int64"),
            "anchor_year_group": pd.Categorical.from_codes(group, categories=group_labels),
            "dod": dod,
        }
    )
    admissions = pd.DataFrame(
        {
            "subject_id": subject_id[owner],
            "hadm_id": hadm_id,
            "admittime": _timestamps(admit + shift_adm),
            "dischtime": _timestamps(discharge + shift_adm),
            "deathtime": _timestamps(discharge + shift_adm, died),
            "admission_type": _categorical_frame(model.admission_type.values, adm_type),
            "admit_provider_id": pd.Categorical.from_codes(provider, categories=list(model.providers)),
            "admission_location": _categorical_frame(
                model.admission_location.values, model.admission_location.sample_index(rng, total)
            ),
            "discharge_location": _categorical_frame(discharge_values, discharge_loc),
            "insurance": _categorical_frame(model.insurance.values, insurance),
            "language": _categorical_frame(model.language.values, language),
            "marital_status": _categorical_frame(model.marital_status.values, marital),
            "race": _categorical_frame(model.race.values, race),
            "edregtime": _timestamps(admit - ed_before + shift_adm, has_ed),
            "edouttime": _timestamps(admit + ed_after + shift_adm, has_ed),
            "hospital_expire_flag": died.astype("int64"),
        }
    )

    # ---- diagnoses --------------------------------------------------------------------------
    drawn = model.diagnoses_per_admission.sample(rng, total)
    if model.diagnosis_keep_share < 1.0:
        drawn = np.maximum(rng.binomial(drawn, model.diagnosis_keep_share), 1)
    version = np.where(admit >= ICD10_START, 10, 9)
    dx_adm = np.repeat(np.arange(total), drawn)
    dx_version = version[dx_adm]
    code_index = np.empty(dx_adm.size, dtype="int64")
    code_offset = {9: 0, 10: len(model.codes[9].values)}
    for v in (9, 10):
        rows = np.flatnonzero(dx_version == v)
        code_index[rows] = model.codes[v].sample_index(rng, rows.size) + code_offset[v]
    # each code at most once per admission: a repeated draw is drawn again (a few rounds),
    # and one still repeated after that is dropped
    n_codes = code_offset[10] + len(model.codes[10].values)
    for redraw in range(DEDUPLICATION_ROUNDS + 1):
        _, first = np.unique(dx_adm * n_codes + code_index, return_index=True)
        repeated = np.ones(dx_adm.size, dtype=bool)
        repeated[first] = False
        if not repeated.any():
            break
        if redraw == DEDUPLICATION_ROUNDS:
            dx_adm, code_index, dx_version = dx_adm[~repeated], code_index[~repeated], dx_version[~repeated]
            break
        for v in (9, 10):
            rows = np.flatnonzero(repeated & (dx_version == v))
            code_index[rows] = model.codes[v].sample_index(rng, rows.size) + code_offset[v]
    all_codes = [*model.codes[9].values, *model.codes[10].values]
    # the same code string may exist in both revisions: categories must be unique strings
    code_strings, code_category = np.unique(np.array(all_codes, dtype=object), return_inverse=True)
    diagnoses = pd.DataFrame(
        {
            "subject_id": subject_id[owner][dx_adm],
            "hadm_id": hadm_id[dx_adm],
            "seq_num": _group_position(np.bincount(dx_adm, minlength=total)) + 1,
            "icd_code": pd.Categorical.from_codes(code_category[code_index], categories=list(code_strings)),
            "icd_version": dx_version.astype("int64"),
        }
    )
    used = np.unique(code_index)
    codes_used = {(9 if c < code_offset[10] else 10, str(all_codes[c])) for c in used}

    # ---- ICU stays --------------------------------------------------------------------------
    n_icu = np.where(rng.random(total) < model.icu_share, model.icu_stays_given_any.sample(rng, total), 0)
    n_stays = int(n_icu.sum())
    icu_adm = np.repeat(np.arange(total), n_icu)
    icu_pos = _group_position(n_icu)
    icu_los_s = np.maximum((model.icu_los_days.sample(rng, n_stays) * SECONDS_PER_DAY).astype("int64"), 600)
    offset_s = (model.icu_offset_days.sample(rng, n_stays) * SECONDS_PER_DAY).astype("int64")
    offset_s = np.minimum(offset_s, los_s[icu_adm] // 2)
    # stays of one admission follow each other: each starts an offset after the previous ends
    icu_step = np.cumsum(offset_s + np.where(icu_pos == 0, 0, np.roll(icu_los_s, 1)))
    icu_first = np.repeat(np.cumsum(n_icu) - n_icu, n_icu)
    intime = admit[icu_adm] + icu_step - icu_step[icu_first] + offset_s[icu_first]
    outtime = intime + icu_los_s
    first_unit = model.careunit.sample_index(rng, n_stays)
    changed = rng.random(n_stays) < model.careunit_change_share
    last_unit = np.where(changed, model.careunit.sample_index(rng, n_stays), first_unit)
    shift_icu = shift_adm[icu_adm]
    icustays = pd.DataFrame(
        {
            "subject_id": subject_id[owner][icu_adm],
            "hadm_id": hadm_id[icu_adm],
            "stay_id": first_stay + np.arange(n_stays, dtype="int64"),
            "first_careunit": _categorical_frame(model.careunit.values, first_unit),
            "last_careunit": _categorical_frame(model.careunit.values, last_unit),
            "intime": _timestamps(intime + shift_icu),
            "outtime": _timestamps(outtime + shift_icu),
            "los": icu_los_s / SECONDS_PER_DAY,
        }
    )
    return ChunkResult(
        tables={
            "hosp/patients": patients,
            "hosp/admissions": admissions,
            "hosp/diagnoses_icd": diagnoses,
            "icu/icustays": icustays,
        },
        codes_used=codes_used,
    )


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


class _GzipCsvWriter:
    """One ``.csv.gz`` file written as a single gzip member, compressed on a background thread."""

    def __init__(self, path: Path, header: Sequence[str], level: int) -> None:
        self.path = path
        self.part = path.with_name(path.name + ".part")
        self._file = self.part.open("wb")
        self._compressor = zlib.compressobj(level, zlib.DEFLATED, 31)  # wbits 31: gzip container
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=4)  # bounds memory
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"gzip-{path.name}", daemon=True)
        self._thread.start()
        self.write((",".join(header) + "\n").encode())

    def _run(self) -> None:
        try:
            while (data := self._queue.get()) is not None:
                self._file.write(self._compressor.compress(data))
            self._file.write(self._compressor.flush())
        except BaseException as error:  # surfaced in close()
            self._error = error
            while self._queue.get() is not None:
                pass

    def write(self, data: bytes) -> None:
        if data:
            self._queue.put(data)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()
        self._file.close()
        if self._error is not None:
            raise self._error
        os.replace(self.part, self.path)

    def abort(self) -> None:
        self._queue.put(None)
        self._thread.join()
        self._file.close()
        self.part.unlink(missing_ok=True)


def _csv_bytes(con: duckdb.DuckDBPyConnection, name: str, frame: pd.DataFrame, scratch: Path) -> bytes:
    """The rows of ``frame`` as MIMIC-style CSV text (no header), formatted by DuckDB."""
    if frame.empty:
        return b""
    columns = ", ".join(
        f"cast({column} as date) as {column}" if column in DATE_COLUMNS else column
        for column in COLUMNS[name]
    )
    con.register("chunk_frame", frame)
    try:
        con.execute(
            f"copy (select {columns} from chunk_frame) to '{scratch}' "
            "(format csv, header false, timestampformat '%Y-%m-%d %H:%M:%S', dateformat '%Y-%m-%d')"
        )
    finally:
        con.unregister("chunk_frame")
    return scratch.read_bytes()


@dataclass(frozen=True)
class GenerationSummary:
    out_dir: Path
    patients: int
    rows: dict[str, int]
    seconds: float


def generate_release(
    out_dir: Path,
    patients: int,
    seed: int,
    release: str = "3.1",
    volumes: Literal["release", "demo"] = "release",
    params: dict[str, Any] | None = None,
    progress: Callable[[str], None] | None = None,
    chunk_patients: int = CHUNK_PATIENTS,
) -> GenerationSummary:
    """Write a MIMIC-shaped release of ``patients`` patients to ``out_dir`` (official layout)."""
    if isinstance(patients, bool) or not isinstance(patients, int) or patients < 1:
        raise GeneratorError(f"patients must be a positive integer, got {patients!r}")
    if patients >= ID_SPAN:
        raise GeneratorError(f"at most {ID_SPAN - 1:,} patients fit MIMIC-IV's subject_id range")
    if chunk_patients < 1:
        raise GeneratorError("chunk_patients must be positive")
    model = build_model(params if params is not None else load_params(), release, volumes)
    started = time.perf_counter()
    out_dir = Path(out_dir)
    for module in ("hosp", "icu"):
        (out_dir / module).mkdir(parents=True, exist_ok=True)
    writers = {
        name: _GzipCsvWriter(out_dir / f"{name}.csv.gz", COLUMNS[name], COMPRESS_LEVEL) for name in COLUMNS
    }
    rows = dict.fromkeys(COLUMNS, 0)
    codes_used: set[tuple[int, str]] = set()
    con = duckdb.connect()
    con.execute("set preserve_insertion_order = true")
    scratch_dir = Path(tempfile.mkdtemp(prefix="mimic-generator-"))
    scratch = scratch_dir / "chunk.csv"
    next_hadm, next_stay = HADM_ID_BASE, STAY_ID_BASE
    n_chunks = -(-patients // chunk_patients)
    try:
        for chunk, first in enumerate(range(0, patients, chunk_patients)):
            n = min(chunk_patients, patients - first)
            rng = np.random.default_rng([seed, chunk])
            result = generate_chunk(model, rng, SUBJECT_ID_BASE + first, n, next_hadm, next_stay)
            for name, frame in result.tables.items():
                writers[name].write(_csv_bytes(con, name, frame, scratch))
                rows[name] += len(frame)
            next_hadm += len(result.tables["hosp/admissions"])
            next_stay += len(result.tables["icu/icustays"])
            if next_hadm >= HADM_ID_BASE + ID_SPAN or next_stay >= STAY_ID_BASE + ID_SPAN:
                raise GeneratorError("too many admissions or ICU stays for MIMIC-IV's 8-digit id ranges")
            codes_used |= result.codes_used
            if progress is not None:
                progress(
                    f"chunk {chunk + 1}/{n_chunks}: {first + n:,} patients, "
                    f"{rows['hosp/admissions']:,} admissions, {rows['hosp/diagnoses_icd']:,} diagnoses, "
                    f"{rows['icu/icustays']:,} ICU stays ({time.perf_counter() - started:.1f} s)"
                )
        dictionary = _code_dictionary(codes_used)
        writers["hosp/d_icd_diagnoses"].write(_csv_bytes(con, "hosp/d_icd_diagnoses", dictionary, scratch))
        rows["hosp/d_icd_diagnoses"] = len(dictionary)
        for writer in writers.values():
            writer.close()
    except BaseException:
        # nothing partial is left behind: unfinished files are removed, finished ones kept
        for writer in writers.values():
            if writer.part.exists():
                writer.abort()
        raise
    finally:
        con.close()
        shutil.rmtree(scratch_dir, ignore_errors=True)
    return GenerationSummary(out_dir, patients, rows, time.perf_counter() - started)


def _code_dictionary(codes: set[tuple[int, str]]) -> pd.DataFrame:
    """``d_icd_diagnoses`` rows for the codes used, sorted, with placeholder titles.

    The real titles are not shipped with the project; a generated title names the code and its
    revision so that joins and documentation still have a non-empty title to show.
    """
    ordered = sorted(codes, key=lambda vc: (vc[0], vc[1]))
    revision = {9: "ICD-9-CM", 10: "ICD-10-CM"}
    return pd.DataFrame(
        {
            "icd_code": [code for _, code in ordered],
            "icd_version": np.array([version for version, _ in ordered], dtype="int64"),
            "long_title": [f"Generated title for {revision[v]} code {code}" for v, code in ordered],
        }
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, required=True, help="number of patients")
    parser.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    parser.add_argument("--out", type=Path, required=True, help="release directory to write (hosp/, icu/)")
    parser.add_argument(
        "--release",
        choices=sorted(RELEASES),
        default="3.1",
        help="release whose last data year and volumes to follow (default 3.1)",
    )
    parser.add_argument(
        "--volumes",
        choices=("release", "demo"),
        default="release",
        help="per-patient volumes: scaled to the release's published totals (default) or the demo's",
    )
    args = parser.parse_args(argv)
    try:
        summary = generate_release(
            args.out,
            args.patients,
            args.seed,
            release=args.release,
            volumes=args.volumes,
            progress=lambda line: print(line, file=sys.stderr, flush=True),
        )
    except GeneratorError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    counts = ", ".join(f"{name} {count:,}" for name, count in summary.rows.items())
    print(
        f"wrote a MIMIC-IV {args.release}-shaped release to {summary.out_dir} "
        f"in {summary.seconds:.1f} s: {counts}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
