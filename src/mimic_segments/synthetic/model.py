"""The generator's model: the demo's fitted distributions and a release's published figures, as samplers.

``build_model`` turns ``generator_params.json`` (written by ``mimic_segments.synthetic.fit``) into
a ``Model`` of distributions to draw from. With ``volumes="release"`` the per-patient counts keep
the demo's shapes but are scaled to the chosen release's published totals (the figures below,
each with its source); with ``volumes="demo"`` the demo's own rates are kept.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import numpy as np
from scipy.stats import binom

from mimic_segments.synthetic.arrays import sample_index

PARAMS_PATH = Path(__file__).with_name("generator_params.json")
SECONDS_PER_DAY = 86_400
FIRST_DATA_YEAR = 2008  # MIMIC-IV's first real year of data
PROVIDER_POOL = 2_000
ED_CAREUNIT = "Emergency Department"  # the careunit of every ED row of transfers (demo: 236 of 236)
# ED visits that did not lead to an admission are drawn within this many days of a patient's
# first admission and last discharge (the demo's 54 lie from 4.8 years before the first
# admission to 116 days after the last discharge, 39 of them between the two).
ED_ONLY_WINDOW_DAYS = 365


class GeneratorError(ValueError):
    """Invalid generator arguments or parameters."""


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


@dataclass(frozen=True)
class EdModuleShape:
    """Published facts of MIMIC-IV-ED, the ED module both releases link to."""

    first_year: int
    last_year: int
    stays: int
    admitted_stays: int

    @property
    def stays_without_admission(self) -> int:
        return self.stays - self.admitted_stays


# MIMIC-IV-ED 2.2 (PhysioNet: "between 2011 and 2019"; MIMIC-IV docs, ed/edstays: 425,087 rows,
# 158,010 with disposition ADMITTED, the other dispositions HOME, TRANSFER, LEFT WITHOUT BEING
# SEEN, OTHER, LEFT AGAINST MEDICAL ADVICE, ELOPED and EXPIRED).
ED_MODULE = EdModuleShape(first_year=2011, last_year=2019, stays=425_087, admitted_stays=158_010)

# admission_type of the full MIMIC-IV 3.x hosp.admissions (546,028 rows; the nine counts sum to
# it). No official table publishes them: measured by a public third-party MIMIC-IV 3.x
# readmission project and quoted in its source; the spellings are those of the MIMIC-IV docs
# (hosp/admissions), the same in 2.2 and 3.1. Release volumes of 2.2 use this mix too (no
# published 2.2 counts were found).
RELEASE_ADMISSION_TYPE_COUNTS: dict[str, int] = {
    "AMBULATORY OBSERVATION": 7_195,
    "DIRECT EMER.": 21_973,
    "DIRECT OBSERVATION": 24_551,
    "ELECTIVE": 13_130,
    "EU OBSERVATION": 119_456,
    "EW EMER.": 177_459,
    "OBSERVATION ADMIT": 84_437,
    "SURGICAL SAME DAY ADMISSION": 42_898,
    "URGENT": 54_929,
}


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
        return sample_index(rng, self.probabilities, size)


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

    def share_at_least(self, minimum: int) -> float:
        return float(self.probabilities[self.values >= minimum].sum())

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return self.values[sample_index(rng, self.probabilities, size)]


@dataclass(frozen=True)
class LogNormal:
    mu: float
    sigma: float

    @classmethod
    def from_params(cls, params: dict[str, float]) -> LogNormal:
        return cls(mu=float(params["mu"]), sigma=float(params["sigma"]))

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return rng.lognormal(self.mu, self.sigma, size)


@dataclass(frozen=True)
class Severity:
    """How strongly each patient's latent severity (standard normal) drives each channel: the
    loading of a one-factor Gaussian copula, fitted on the demo (``fit.py``), 0 = independent."""

    admissions: float  # number of admissions, and (negated) the gaps between them
    chronic_conditions: float  # probability that a diagnosis row is a chronic code
    icu_stays: float  # an admission having an ICU stay
    mean_los_days: float  # length of stay
    died: float  # death in hospital, and a date of death after discharge

    @classmethod
    def from_params(cls, loadings: dict[str, float]) -> Severity:
        return cls(**{name: float(loadings[name]) for name in cls.__dataclass_fields__})


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
    admissions_per_admitted: IntDistribution  # the count after thinning: what is drawn
    severity: Severity
    admission_type: Categorical
    los_by_type: tuple[LogNormal, ...]
    readmission_gap_days: LogNormal
    back_to_back_share: float
    back_to_back_max_minutes: int
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
    chronic_codes: dict[int, np.ndarray]  # per ICD revision: is each of codes[v].values chronic
    icu_share_by_type: np.ndarray
    icu_stays_given_any: IntDistribution
    icu_los_days: LogNormal
    icu_offset_days: LogNormal
    careunit: Categorical
    careunit_change_share: float
    ward_minutes_without_ed: LogNormal
    discharge_minutes: LogNormal
    ward_moves: IntDistribution
    first_ward_unit: Categorical
    later_ward_unit: Categorical
    ed_only_share_admitted: float
    ed_only_visits_given_any: IntDistribution
    ed_only_extra_keep_share: float
    ed_only_hours: LogNormal
    ed_only_gap_days: LogNormal
    providers: tuple[str, ...] = field(repr=False, default=())

    @property
    def anchor_year_groups(self) -> list[tuple[int, int]]:
        """The release's real 3-year windows, e.g. (2008, 2010) ... (2017, 2019)."""
        return anchor_year_groups(self.release)

    @property
    def ed_year_groups(self) -> np.ndarray:
        """Indexes of the anchor year groups that lie within the ED module's years."""
        return ed_year_groups(self.anchor_year_groups)

    @property
    def discharge_values(self) -> tuple[str | None, ...]:
        """Discharge locations of the living, then ``DIED`` (the last index)."""
        return (*self.discharge_location_alive.values, "DIED")

    @cached_property
    def code_values(self) -> tuple[str | None, ...]:
        """Every ICD code the generator draws: the ICD-9 codes, then the ICD-10 codes."""
        return (*self.codes[9].values, *self.codes[10].values)

    @property
    def code_offset(self) -> dict[int, int]:
        """Where each ICD revision's codes start in ``code_values``."""
        return {9: 0, 10: len(self.codes[9].values)}

    @cached_property
    def chronic_row_share(self) -> dict[int, float]:
        """Per ICD revision, the demo's share of diagnosis rows with a chronic code."""
        return {v: float(self.codes[v].probabilities[self.chronic_codes[v]].sum()) for v in self.codes}

    @cached_property
    def code_classes(self) -> dict[tuple[int, bool], tuple[np.ndarray, np.ndarray]]:
        """Per (ICD revision, chronic): the codes (index into ``code_values``) and their
        probabilities within the class, the demo's frequencies renormalised."""
        out = {}
        for v, dist in self.codes.items():
            for chronic in (False, True):
                members = np.flatnonzero(self.chronic_codes[v] == chronic)
                weights = dist.probabilities[members]
                if members.size == 0 or weights.sum() <= 0:  # a class the demo lacks: use all codes
                    members, weights = np.arange(dist.probabilities.size), dist.probabilities
                out[(v, chronic)] = (members + self.code_offset[v], weights / weights.sum())
        return out

    @cached_property
    def code_strings(self) -> np.ndarray:
        """The distinct code strings (one code may exist in both revisions): the categories."""
        return np.unique(np.array(self.code_values, dtype=object))

    @cached_property
    def code_category(self) -> np.ndarray:
        """Index into ``code_strings`` of each entry of ``code_values``."""
        return np.searchsorted(self.code_strings, np.array(self.code_values, dtype=object))

    @cached_property
    def transfer_careunits(self) -> tuple[str, ...]:
        """Every careunit a transfers row can name: the ED, the wards and the ICUs, sorted."""
        units = {ED_CAREUNIT, *self.first_ward_unit.values, *self.later_ward_unit.values}
        return tuple(sorted(str(unit) for unit in units | set(self.careunit.values) if unit is not None))

    def transfer_unit_index(self, distribution: Categorical) -> np.ndarray:
        """Maps an index into ``distribution.values`` to an index into ``transfer_careunits``."""
        return np.array([self.transfer_careunits.index(str(v)) for v in distribution.values], dtype="int64")


def anchor_year_groups(shape: ReleaseShape) -> list[tuple[int, int]]:
    """The release's real 3-year anchor year groups, e.g. (2008, 2010) ... (2017, 2019)."""
    return [(start, start + 2) for start in range(FIRST_DATA_YEAR, shape.last_data_year - 1, 3)]


def ed_year_groups(groups: list[tuple[int, int]]) -> np.ndarray:
    """Indexes of the ``groups`` that lie within the ED module's years."""
    inside = [
        i
        for i, (start, end) in enumerate(groups)
        if start >= ED_MODULE.first_year and end <= ED_MODULE.last_year
    ]
    return np.array(inside, dtype="int64")


def load_params(path: Path = PARAMS_PATH) -> dict[str, Any]:
    return json.loads(path.read_text())


@dataclass(frozen=True)
class VolumeRates:
    """The per-patient rates that ``volumes="release"`` scales to a release's published totals."""

    admitted_share: float
    extra_admission_keep_share: float
    diagnosis_keep_share: float
    admission_type: Categorical
    icu_share_by_type: np.ndarray
    ed_only_extra_keep_share: float


def _icu_share_by_type(
    admission_type: Categorical, demo_shares: dict[str, float], stays_per_admission: float | None, mean: float
) -> np.ndarray:
    """The demo's share of admissions with an ICU stay by type, times one factor so that the
    admission-type mix gives ``stays_per_admission`` (the demo's own shares when it is None)."""
    shares = np.array([float(demo_shares.get(str(t), 0.0)) for t in admission_type.values])
    if stays_per_admission is None:
        return shares
    mixed = float((shares * admission_type.probabilities).sum()) * mean
    return np.minimum(1.0, shares * stays_per_admission / max(mixed, 1e-12))


def _ed_only_extra_keep_share(
    shape: ReleaseShape, year_groups: int, ed_year_groups: int, share_admitted: float, given_any: float
) -> float:
    """Keep share of each ED-only visit after a patient's first, so that ED visits without an
    admission per registry patient match MIMIC-IV-ED's (stays without ADMITTED disposition per
    patient of the release). Every never-admitted patient has at least one such visit; of the
    admitted, the demo's share has some, and only those whose years meet the ED module's can
    (approximated by the share of anchor year groups inside 2011-2019)."""
    target = ED_MODULE.stays_without_admission / shape.patients
    with_any = (1.0 - shape.admitted_share) + shape.admitted_share * share_admitted * (
        ed_year_groups / year_groups
    )
    return float(np.clip((target / with_any - 1.0) / max(given_any - 1.0, 1e-12), 0.0, 1.0))


def volume_rates(
    params: dict[str, Any],
    shape: ReleaseShape,
    volumes: Literal["release", "demo"],
    year_groups: tuple[int, int],
) -> VolumeRates:
    """The rates of ``volumes``: the release's published totals, or the demo's own rates."""
    a, d, i, t = params["admissions"], params["diagnoses"], params["icustays"], params["transfers"]
    admissions_per_patient = IntDistribution.from_counts(a["per_patient_counts"], minimum=1)
    icu_given_any = IntDistribution.from_counts(i["per_admission_counts"], minimum=1)
    ed_only = IntDistribution.from_counts(t["ed_only_visits_per_patient_counts"])
    ed_only_given_any = IntDistribution.from_counts(t["ed_only_visits_per_patient_counts"], minimum=1)
    if volumes == "demo":
        demo_types = Categorical.from_counts(a["admission_type_counts"])
        return VolumeRates(
            admitted_share=1.0,
            extra_admission_keep_share=1.0,
            diagnosis_keep_share=1.0,
            admission_type=demo_types,
            icu_share_by_type=_icu_share_by_type(demo_types, i["admission_share_by_type"], None, 1.0),
            ed_only_extra_keep_share=1.0,
        )
    # The release's own share of patients with any admission; among them, the demo's count
    # distribution thinned (every admission after the first kept with one probability) to the
    # release's admissions per admitted patient.
    target_per_admitted = shape.admissions / shape.admitted_patients
    diagnoses_per_admission = IntDistribution.from_counts(d["per_admission_counts"], minimum=1)
    release_types = Categorical.from_counts(RELEASE_ADMISSION_TYPE_COUNTS)
    return VolumeRates(
        admitted_share=shape.admitted_share,
        extra_admission_keep_share=min(
            1.0, (target_per_admitted - 1.0) / max(admissions_per_patient.mean - 1.0, 1e-12)
        ),
        diagnosis_keep_share=min(1.0, (shape.diagnoses / shape.admissions) / diagnoses_per_admission.mean),
        admission_type=release_types,
        icu_share_by_type=_icu_share_by_type(
            release_types, i["admission_share_by_type"], shape.icustays / shape.admissions, icu_given_any.mean
        ),
        ed_only_extra_keep_share=_ed_only_extra_keep_share(
            shape, *year_groups, ed_only.share_at_least(1), ed_only_given_any.mean
        ),
    )


def thinned_counts(counts: IntDistribution, keep_share: float) -> IntDistribution:
    """The distribution of 1 + Binomial(n - 1, keep_share) for n drawn from ``counts``: every
    admission after the first kept with one probability."""
    if keep_share >= 1.0:
        return counts
    top = int(counts.values.max())
    k = np.arange(top)
    probabilities = np.zeros(top)
    for n, p in zip(counts.values, counts.probabilities, strict=True):
        probabilities[: int(n)] += p * binom.pmf(k[: int(n)], int(n) - 1, keep_share)
    return IntDistribution(values=k + 1, probabilities=probabilities / probabilities.sum())


def build_model(
    params: dict[str, Any], release: str = "3.1", volumes: Literal["release", "demo"] = "release"
) -> Model:
    """Turn the fitted parameters into samplers, scaled to ``release``'s volumes if asked."""
    if release not in RELEASES:
        raise GeneratorError(f"unknown release {release!r}; expected one of {sorted(RELEASES)}")
    if volumes not in ("release", "demo"):
        raise GeneratorError(f"volumes must be 'release' or 'demo', got {volumes!r}")
    shape = RELEASES[release]
    p, a, d, i, t = (params[k] for k in ("patients", "admissions", "diagnoses", "icustays", "transfers"))

    edges = [int(e) for e in p["anchor_age_bin_edges"]]
    bin_counts = p["anchor_age_bin_counts"]
    bins = tuple((low, high - 1) for low, high in itertools.pairwise(edges))
    age_weights = np.array([bin_counts.get(str(low), 0) for low, _ in bins], dtype="float64")
    groups = anchor_year_groups(shape)
    rates = volume_rates(params, shape, volumes, (len(groups), ed_year_groups(groups).size))

    pooled = LogNormal.from_params(a["los_days_lognormal_pooled"])
    by_type = a["los_days_lognormal_by_type"]
    types = rates.admission_type.values
    los_by_type = tuple(LogNormal.from_params(by_type[x]) if x in by_type else pooled for x in types)
    back_to_back = a["back_to_back"]
    ed_only = IntDistribution.from_counts(t["ed_only_visits_per_patient_counts"])
    codes = {int(v): Categorical.from_counts(counts) for v, counts in d["code_counts"].items()}
    chronic = {int(v): set(listed) for v, listed in d["chronic_codes"].items()}
    admissions_per_patient = IntDistribution.from_counts(a["per_patient_counts"], minimum=1)

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
        admitted_share=rates.admitted_share,
        admissions_per_patient=admissions_per_patient,
        extra_admission_keep_share=rates.extra_admission_keep_share,
        admissions_per_admitted=thinned_counts(admissions_per_patient, rates.extra_admission_keep_share),
        severity=Severity.from_params(params["severity"]["loadings"]),
        admission_type=rates.admission_type,
        los_by_type=los_by_type,
        readmission_gap_days=LogNormal.from_params(a["readmission_gap_days_lognormal"]),
        back_to_back_share=back_to_back["within_max_gap"] / back_to_back["pairs"],
        back_to_back_max_minutes=int(back_to_back["max_gap_minutes"]),
        ed_share_by_type=np.array([float(a["ed_share_by_type"].get(str(x), 0.0)) for x in types]),
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
        diagnoses_per_admission=IntDistribution.from_counts(d["per_admission_counts"], minimum=1),
        diagnosis_keep_share=rates.diagnosis_keep_share,
        codes=codes,
        chronic_codes={
            v: np.array([code in chronic.get(v, set()) for code in dist.values]) for v, dist in codes.items()
        },
        icu_share_by_type=rates.icu_share_by_type,
        icu_stays_given_any=IntDistribution.from_counts(i["per_admission_counts"], minimum=1),
        icu_los_days=LogNormal.from_params(i["los_days_lognormal"]),
        icu_offset_days=LogNormal.from_params(i["intime_days_after_admission_lognormal"]),
        careunit=Categorical.from_counts(i["first_careunit_counts"]),
        careunit_change_share=float(i["careunit_change_share"]),
        ward_minutes_without_ed=LogNormal.from_params(t["ward_minutes_after_admittime_without_ed_lognormal"]),
        discharge_minutes=LogNormal.from_params(t["discharge_minutes_after_dischtime_lognormal"]),
        ward_moves=IntDistribution.from_counts(t["ward_moves_per_admission_counts"]),
        first_ward_unit=Categorical.from_counts(t["first_ward_careunit_counts"]),
        later_ward_unit=Categorical.from_counts(t["later_ward_careunit_counts"]),
        ed_only_share_admitted=ed_only.share_at_least(1),
        ed_only_visits_given_any=IntDistribution.from_counts(
            t["ed_only_visits_per_patient_counts"], minimum=1
        ),
        ed_only_extra_keep_share=rates.ed_only_extra_keep_share,
        ed_only_hours=LogNormal.from_params(t["ed_only_visit_hours_lognormal"]),
        ed_only_gap_days=LogNormal.from_params(t["days_between_ed_only_visits_lognormal"]),
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
