"""A MIMIC-shaped synthetic release: N patients in MIMIC-IV's official layout and columns.

Writes ``hosp/patients.csv.gz``, ``hosp/admissions.csv.gz``, ``hosp/diagnoses_icd.csv.gz``,
``hosp/d_icd_diagnoses.csv.gz`` (the codes it uses), ``hosp/transfers.csv.gz`` and
``icu/icustays.csv.gz`` with exactly the columns of the real files, so the project's
full-release mode reads them as it reads MIMIC-IV. No real patient is in it: every row is drawn
from distributions fitted on the open demo (``generator_params.json``, written by
``mimic_segments.synthetic.fit``) or from a release's published figures
(``mimic_segments.synthetic.model``); ``docs/generator.md`` tabulates them.

Shape, per patient (in real calendar time, then shifted like MIMIC):

* gender, anchor age (10-year bins, 91 = "older than 89"), an anchor year group drawn uniformly
  from the release's 3-year groups (for a never-admitted patient, from those within the ED
  module's 2011-2019) and a real anchor year in it; the shifted ``anchor_year`` is uniform over
  the demo's range and every date of the patient moves by the same whole number of years, so
  intervals within a patient are real and calendar years across patients are not;
* admissions: count per admitted patient, admission type, length of stay (log-normal per type),
  gaps between stays (log-normal, or a back-to-back hand-off of at most 15 minutes at the demo's
  rate), ED registration, in-hospital death on the last stay, and the demo's frequencies of
  locations, insurance, language, marital status and race; the first stay falls in the anchor
  year as for 98 of the demo's 100 patients, and stays after the release's last data year are
  not recorded;
* diagnoses: count per admission, ICD-9-CM before 1 October 2015 (the US switch date) and
  ICD-10-CM from then on, codes drawn by the demo's code frequencies, each code at most once
  per admission, ``seq_num`` 1..n;
* ICU stays: count per admission by admission type, time from admission to ICU, length of stay
  (log-normal), first care unit and the share of stays that change unit, all within the stay's
  ward time (compressed in proportion where they would not fit);
* transfers: per stay an ``ED`` row from ``edregtime`` to ``edouttime`` when it came through the
  ED, an ``admit`` row, ``transfer`` rows for ward moves and ICU stays (an ICU stay's first row
  opens it: its ``transfer_id`` is the stay's ``stay_id``, as in MIMIC-IV) and a ``discharge``
  row with no careunit or outtime; and ``ED`` rows without ``hadm_id``, the ED visits that did
  not lead to an admission, inside the ED module's years and the patient's window;
* deaths: in hospital (``deathtime``, ``hospital_expire_flag``, ``dod``) or after discharge
  (``dod``, log-normal days after the last discharge, kept only within the release's data years).

Severity: each patient has a latent severity (a standard normal of the seed's stream) that drives,
through a Gaussian copula with one loading per channel (fitted on the demo, ``docs/generator.md``),
the number of admissions and (negated) the gaps between them, length of stay, whether an
admission has an ICU stay, the share of chronic diagnosis codes, and death in hospital or after.
Each channel turns its latent into a value by a quantile of its fitted distribution (by rank within
the chunk for per-admission channels), so the shares and totals above are kept.

Volumes: the demo is 100 ICU patients, far heavier per patient than the full release. With
``volumes="release"`` (default) the per-patient counts keep the demo's shapes but are scaled to
the published totals of the chosen release: the share of patients with any admission (3.1:
223,452 of 364,627, so 38.7 % of the registry is never admitted, as in MIMIC-IV), admissions per
admitted patient (every admission after the first kept with one probability), the admission
type mix, the diagnoses per admission (binomial thinning), the share of admissions with an ICU
stay, and ED visits without an admission (MIMIC-IV-ED's). ``volumes="demo"`` keeps the demo's own
rates.

Deterministic: the same seed and patient count give byte-identical files. Patients are made in
chunks of ``CHUNK_PATIENTS`` with a random stream per chunk, formatted by DuckDB and streamed
into one gzip member per file by a background thread, so memory stays bounded at any N.

Usage::

    python -m mimic_segments.synthetic.generator --patients 364627 --seed 42 --out data/generated/364627
        [--release 3.1] [--volumes release|demo]
"""

from __future__ import annotations

import argparse
import os
import queue
import shutil
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import duckdb
import numpy as np
import pandas as pd
from scipy.special import ndtr, ndtri

from mimic_segments.synthetic.arrays import (
    cap_to_room,
    chained_starts,
    group_position,
    group_start,
    latent,
    normal_scores,
    rank_uniform,
    sample_index,
    sample_index_at,
    year_start_seconds,
)
from mimic_segments.synthetic.encounters import (
    ED_EVENT,
    EVENTTYPES,
    ChainRows,
    EdVisits,
    IcuTimes,
    draw_ed_visit_counts,
    draw_ed_visits,
    draw_transfer_chains,
    drop_visits_during_stays,
)
from mimic_segments.synthetic.model import (
    ED_CAREUNIT,
    ED_MODULE,
    ED_ONLY_WINDOW_DAYS,
    PARAMS_PATH,
    RELEASES,
    SECONDS_PER_DAY,
    Categorical,
    GeneratorError,
    Model,
    build_model,
    load_params,
)

__all__ = ["PARAMS_PATH", "RELEASES", "GeneratorError", "build_model", "generate_release", "load_params"]

CHUNK_PATIENTS = 50_000
COMPRESS_LEVEL = 6
ICD10_START = np.datetime64("2015-10-01T00:00:00", "s").astype("int64")  # US switch to ICD-10-CM
SUBJECT_ID_BASE = 10_000_000
HADM_ID_BASE = 20_000_000
# transfer_id and stay_id share one range, as in MIMIC-IV (an ICU stay's stay_id is the
# transfer_id of its first row); past about 1.4 million patients they run beyond 8 digits.
TRANSFER_ID_BASE = 30_000_000
ID_SPAN = 10_000_000  # MIMIC-IV keeps each id in its own 8-digit range
DEDUPLICATION_ROUNDS = 3
MIN_ICU_WINDOW_S = 3600  # a stay gets ICU stays only with at least an hour of ward time per ICU stay
DATE_COLUMNS = frozenset({"dod"})  # written as dates; every other time column is a timestamp

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
    "hosp/transfers": ("subject_id", "hadm_id", "transfer_id", "eventtype", "careunit", "intime", "outtime"),
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


# --------------------------------------------------------------------------------------------
# One chunk of patients
# --------------------------------------------------------------------------------------------


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


@dataclass(frozen=True)
class PatientDraw:
    """One chunk's patients: ids, sex, anchor fields, and each patient's date shift in seconds."""

    subject_id: np.ndarray
    admitted: np.ndarray
    female: np.ndarray
    anchor_age: np.ndarray
    group: np.ndarray  # index into Model.anchor_year_groups
    real_anchor_year: np.ndarray
    anchor_year: np.ndarray  # shifted
    shift: np.ndarray  # seconds added to every real time of the patient

    @property
    def n(self) -> int:
        return int(self.subject_id.size)


@dataclass(frozen=True)
class StayTiming:
    """Every admission of a chunk in real time (seconds), grouped by patient in time order."""

    owner: np.ndarray  # index of the admission's patient in the chunk
    admission_type: np.ndarray  # index into Model.admission_type.values
    admit: np.ndarray
    discharge: np.ndarray
    back_to_back: np.ndarray  # starts at most a few minutes after the previous discharge
    per_patient: np.ndarray  # admissions of each patient of the chunk

    @property
    def total(self) -> int:
        return int(self.owner.size)

    @property
    def is_first(self) -> np.ndarray:
        return group_position(self.per_patient) == 0

    @property
    def is_last(self) -> np.ndarray:
        return group_position(self.per_patient) == (self.per_patient[self.owner] - 1)

    @property
    def gap_before(self) -> np.ndarray:
        """Seconds from the patient's previous discharge (-1 for a first stay)."""
        return np.where(self.is_first, -1, self.admit - np.roll(self.discharge, 1))


@dataclass(frozen=True)
class EdRegistration:
    """Per admission: whether it came through the ED, and the ED times around ``admittime``."""

    present: np.ndarray
    before_s: np.ndarray
    after_s: np.ndarray


@dataclass(frozen=True)
class WardTiming:
    """Per admission, in transfers: when the patient arrives (ED or ward), reaches the first
    ward row, and the discharge row."""

    arrival: np.ndarray
    ward_start: np.ndarray
    discharge_event: np.ndarray


@dataclass(frozen=True)
class DiagnosisDraw:
    """Diagnosis rows: the admission (index into the chunk's stays), code and ICD revision."""

    admission: np.ndarray
    code_index: np.ndarray  # index into Model.code_values
    version: np.ndarray


@dataclass
class ChunkResult:
    tables: dict[str, pd.DataFrame]
    codes_used: set[tuple[int, str]]


def release_end_seconds(model: Model) -> int:
    """Real time (seconds) at which the release's last data year ends."""
    return int(year_start_seconds(np.array([model.release.last_data_year + 1]))[0])


def draw_patients(
    model: Model, rng: np.random.Generator, first_subject: int, admitted: np.ndarray
) -> PatientDraw:
    """Sex, anchor age in its 10-year bin, anchor year group, real and shifted anchor year.

    A never-admitted patient came through the ED: their anchor year group lies within the ED
    module's years.
    """
    n = admitted.size
    female = rng.random(n) < model.female_share
    age_bin = sample_index(rng, model.age_bin_probabilities, n)
    lows = np.array([b[0] for b in model.age_bins])[age_bin]
    highs = np.array([b[1] for b in model.age_bins])[age_bin]
    anchor_age = rng.integers(lows, highs + 1)
    groups, ed_groups = model.anchor_year_groups, model.ed_year_groups
    u = rng.random(n)
    group = np.where(
        admitted, (u * len(groups)).astype("int64"), ed_groups[(u * ed_groups.size).astype("int64")]
    )
    first_year_of_group = np.array([g[0] for g in groups], dtype="int64")[group]
    real_anchor_year = first_year_of_group + rng.integers(0, 3, n)
    anchor_year = rng.integers(model.anchor_year_min, model.anchor_year_max + 1, n)
    return PatientDraw(
        subject_id=first_subject + np.arange(n, dtype="int64"),
        admitted=admitted,
        female=female,
        anchor_age=anchor_age,
        group=group,
        real_anchor_year=real_anchor_year,
        anchor_year=anchor_year,
        shift=year_start_seconds(anchor_year) - year_start_seconds(real_anchor_year),
    )


def draw_admission_counts(
    model: Model, rng: np.random.Generator, admitted: np.ndarray, severity: np.ndarray
) -> np.ndarray:
    """Admissions per patient: 0 for the never admitted, the (thinned) demo counts for the rest,
    drawn at a quantile that rises with the patient's severity (the counts' shares are kept)."""
    u = ndtr(latent(rng, severity, model.severity.admissions))
    counts = model.admissions_per_admitted
    return np.where(admitted, counts.values[sample_index_at(counts.probabilities, u)], 0)


def draw_first_admission(model: Model, rng: np.random.Generator, real_anchor_year: np.ndarray) -> np.ndarray:
    """Real time of each patient's first admission: a minute of the drawn year after the anchor."""
    first_year = np.minimum(
        real_anchor_year + model.first_admission_offset.sample(rng, real_anchor_year.size),
        model.release.last_data_year,
    )
    first_admit = year_start_seconds(first_year) + (
        rng.random(real_anchor_year.size) * 365 * SECONDS_PER_DAY
    ).astype("int64")
    return first_admit - first_admit % 60


def draw_lengths_of_stay(
    model: Model, rng: np.random.Generator, admission_type: np.ndarray, severity: np.ndarray
) -> np.ndarray:
    """Length of stay in whole minutes (at least one), log-normal per admission type, longer for
    sicker patients: the normal score of a latent that follows the patient's severity."""
    score = normal_scores(latent(rng, severity, model.severity.mean_los_days))
    mu = np.array([dist.mu for dist in model.los_by_type])[admission_type]
    sigma = np.array([dist.sigma for dist in model.los_by_type])[admission_type]
    los = np.exp(mu + sigma * score)
    return np.maximum((los * SECONDS_PER_DAY).astype("int64") // 60 * 60, 60)


def draw_gaps(
    model: Model, rng: np.random.Generator, position: np.ndarray, severity: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Seconds from the previous discharge to each admission (0 for a patient's first), shorter
    for sicker patients, and which admissions are back-to-back: 0 to
    ``back_to_back_max_minutes`` whole minutes after the previous discharge, at the demo's share
    of consecutive pairs."""
    back_to_back = (rng.random(position.size) < model.back_to_back_share) & (position > 0)
    minutes = rng.integers(0, model.back_to_back_max_minutes + 1, position.size)
    # ranked among the gaps only (not first stays), so that gaps keep the demo's distribution
    later = position > 0
    score = np.zeros(position.size)
    score[later] = normal_scores(latent(rng, severity, -model.severity.admissions)[later])
    gap = model.readmission_gap_days
    gap_s = np.maximum((np.exp(gap.mu + gap.sigma * score) * SECONDS_PER_DAY).astype("int64"), 3600)
    gap_s = np.where(back_to_back, minutes * 60, gap_s)
    return np.where(position == 0, 0, gap_s), back_to_back


def place_stays(
    n_adm: np.ndarray,
    first_admit: np.ndarray,
    admission_type: np.ndarray,
    los_s: np.ndarray,
    gap_s: np.ndarray,
    back_to_back: np.ndarray,
    release_end: int,
    min_gap_s: int,
) -> StayTiming:
    """Lay each patient's stays one after another from the first admission (pure).

    The release ends with its last data year: where a patient's gaps would carry later stays past
    it, that patient's longest gaps are shortened to a common cap (no shorter than ``min_gap_s``;
    back-to-back and short gaps are kept as drawn), so the count drawn is kept; a stay that
    would still begin after the release's last data year is not in the release.
    """
    n = n_adm.size
    owner = np.repeat(np.arange(n), n_adm)
    position = group_position(n_adm)
    previous_los = np.where(position == 0, 0, np.roll(los_s, 1))
    capped = ~back_to_back & (position > 0)
    fixed = np.bincount(owner, previous_los + np.where(capped, 0, gap_s), minlength=n)
    cap = cap_to_room(owner[capped], gap_s[capped], release_end - 60 - first_admit - fixed)
    shortened = np.maximum(np.minimum(gap_s, cap[owner]).astype("int64") // 60 * 60, min_gap_s)
    gap_s = np.where(capped, np.minimum(gap_s, shortened), gap_s)
    # admission k starts a gap after stay k-1 ends; the first starts at first_admit
    admit = chained_starts(first_admit[owner], n_adm, previous_los + gap_s)
    kept = admit < release_end
    owner, admit = owner[kept], admit[kept]
    return StayTiming(
        owner=owner,
        admission_type=admission_type[kept],
        admit=admit,
        discharge=admit + los_s[kept],
        back_to_back=back_to_back[kept],
        per_patient=np.bincount(owner, minlength=n),
    )


def draw_stays(
    model: Model,
    rng: np.random.Generator,
    admitted: np.ndarray,
    real_anchor_year: np.ndarray,
    release_end: int,
    severity: np.ndarray,
) -> StayTiming:
    """Each patient's admissions: count, first admission, type, length and the gaps between."""
    n_adm = draw_admission_counts(model, rng, admitted, severity)
    first_admit = draw_first_admission(model, rng, real_anchor_year)
    admission_type = model.admission_type.sample_index(rng, int(n_adm.sum()))
    owner_severity = np.repeat(severity, n_adm)
    los_s = draw_lengths_of_stay(model, rng, admission_type, owner_severity)
    gap_s, back_to_back = draw_gaps(model, rng, group_position(n_adm), owner_severity)
    min_gap_s = (model.back_to_back_max_minutes + 1) * 60
    return place_stays(n_adm, first_admit, admission_type, los_s, gap_s, back_to_back, release_end, min_gap_s)


def draw_hospital_deaths(
    model: Model, rng: np.random.Generator, stays: StayTiming, severity: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Patients who die in hospital, and the admissions they die in (their last): the demo's
    share, among the admitted, with the highest latent that follows severity."""
    threshold = ndtri(1.0 - model.hospital_death_share)
    died_patient = (latent(rng, severity, model.severity.died) > threshold) & (stays.per_patient > 0)
    return died_patient, stays.is_last & died_patient[stays.owner]


def draw_ed_registration(model: Model, rng: np.random.Generator, stays: StayTiming) -> EdRegistration:
    """ED registration by admission type, with ED arrival before and departure after admittime.

    A back-to-back stay continues the previous one and has no ED visit of its own; the ED visit
    starts after the previous discharge and ends before the stay's discharge.
    """
    total = stays.total
    present = (rng.random(total) < model.ed_share_by_type[stays.admission_type]) & ~stays.back_to_back
    before = (model.ed_hours_before.sample(rng, total) * 3600).astype("int64") // 60 * 60
    after = (model.ed_hours_after.sample(rng, total) * 3600).astype("int64") // 60 * 60
    gap = stays.gap_before
    before = np.where(gap >= 0, np.minimum(before, np.maximum(gap - 60, 0)), before)
    after = np.minimum(after, stays.discharge - stays.admit - 60)
    return EdRegistration(present=present, before_s=before, after_s=after)


def draw_ward_timing(
    model: Model, rng: np.random.Generator, stays: StayTiming, ed: EdRegistration
) -> WardTiming:
    """The first ward row starts as the ED visit ends, or minutes after admittime; the discharge
    row minutes after dischtime, never after the patient's next arrival."""
    total = stays.total
    los = stays.discharge - stays.admit
    ward_offset = np.minimum(
        (model.ward_minutes_without_ed.sample(rng, total) * 60).astype("int64"), los - 60
    )
    ward_start = stays.admit + np.where(ed.present, ed.after_s, ward_offset)
    arrival = np.where(ed.present, stays.admit - ed.before_s, ward_start)
    discharge_event = stays.discharge + np.maximum(
        (model.discharge_minutes.sample(rng, total) * 60).astype("int64"), 1
    )
    next_arrival = np.roll(arrival, -1)
    discharge_event = np.where(stays.is_last, discharge_event, np.minimum(discharge_event, next_arrival))
    return WardTiming(arrival=arrival, ward_start=ward_start, discharge_event=discharge_event)


def draw_discharge_locations(model: Model, rng: np.random.Generator, died: np.ndarray) -> np.ndarray:
    """Index into ``model.discharge_values``: the demo's mix for the living, DIED for a death."""
    location = model.discharge_location_alive.sample_index(rng, died.size)
    return np.where(died, len(model.discharge_values) - 1, location)


def draw_admission_attributes(
    model: Model, rng: np.random.Generator, stays: StayTiming, died: np.ndarray
) -> dict[str, np.ndarray]:
    """A category index per admission: locations and provider per stay; insurance, language,
    marital status and race per patient, repeated on each of their admissions."""
    n, total = stays.per_patient.size, stays.total
    per_patient = {
        "insurance": model.insurance.sample_index(rng, n),
        "language": model.language.sample_index(rng, n),
        "marital_status": model.marital_status.sample_index(rng, n),
        "race": model.race.sample_index(rng, n),
    }
    return {
        "admission_location": model.admission_location.sample_index(rng, total),
        "discharge_location": draw_discharge_locations(model, rng, died),
        "admit_provider_id": rng.integers(0, len(model.providers), total),
        **{column: index[stays.owner] for column, index in per_patient.items()},
    }


def draw_dates_of_death(
    model: Model,
    rng: np.random.Generator,
    stays: StayTiming,
    died_patient: np.ndarray,
    release_end: int,
    severity: np.ndarray,
) -> np.ndarray:
    """Real date of death (seconds; -1 for none): the discharge of a hospital death, or a time after
    the last discharge for some of the others (the demo's share, drawn on a latent that follows
    severity), kept only before the release's end."""
    n = died_patient.size
    last_discharge = np.zeros(n, dtype="int64")
    np.maximum.at(last_discharge, stays.owner, stays.discharge)
    later = latent(rng, severity, model.severity.died) > ndtri(1.0 - model.dod_share_after_discharge)
    later_death = (stays.per_patient > 0) & ~died_patient & later
    later_days = np.maximum(model.dod_days_after_discharge.sample(rng, n), 1.0).astype("int64")
    dod_real = np.where(died_patient, last_discharge, last_discharge + later_days * SECONDS_PER_DAY)
    has_dod = died_patient | (later_death & (dod_real < release_end))
    return np.where(has_dod, dod_real, -1)


def draw_diagnosis_codes(
    model: Model, rng: np.random.Generator, version: np.ndarray, chronic: np.ndarray
) -> np.ndarray:
    """Codes by the demo's frequencies within each row's ICD revision and class (chronic or
    not; index into code_values)."""
    code_index = np.empty(version.size, dtype="int64")
    for (v, is_chronic), (members, probabilities) in model.code_classes.items():
        rows = np.flatnonzero((version == v) & (chronic == is_chronic))
        code_index[rows] = members[sample_index(rng, probabilities, rows.size)]
    return code_index


def chronic_row_probability(model: Model, version: np.ndarray, severity: np.ndarray) -> np.ndarray:
    """Probability that a diagnosis row is a chronic code: ``P(latent > threshold)`` for a latent
    that follows the patient's severity, so that over standard normal severities it averages to
    the demo's share of chronic rows in the row's ICD revision."""
    loading = model.severity.chronic_conditions
    share = np.where(version == 9, model.chronic_row_share[9], model.chronic_row_share[10])
    return ndtr((ndtri(share) + loading * severity) / np.sqrt(1.0 - loading**2))


def draw_diagnoses(
    model: Model, rng: np.random.Generator, admit: np.ndarray, severity: np.ndarray
) -> DiagnosisDraw:
    """Diagnoses per admission, ICD-9 before the US switch and ICD-10 after, each code once;
    the share of chronic codes rises with the patient's severity."""
    drawn = model.diagnoses_per_admission.sample(rng, admit.size)
    if model.diagnosis_keep_share < 1.0:
        drawn = np.maximum(rng.binomial(drawn, model.diagnosis_keep_share), 1)
    admission = np.repeat(np.arange(admit.size), drawn)
    version = np.where(admit >= ICD10_START, 10, 9)[admission]
    chronic = rng.random(admission.size) < chronic_row_probability(model, version, severity[admission])
    code_index = draw_diagnosis_codes(model, rng, version, chronic)
    # each code at most once per admission: a repeated draw is drawn again (a few rounds),
    # and one still repeated after that is dropped
    n_codes = len(model.code_values)
    for redraw in range(DEDUPLICATION_ROUNDS + 1):
        _, first = np.unique(admission * n_codes + code_index, return_index=True)
        repeated = np.ones(admission.size, dtype=bool)
        repeated[first] = False
        if not repeated.any():
            break
        if redraw == DEDUPLICATION_ROUNDS:
            admission, code_index, version = admission[~repeated], code_index[~repeated], version[~repeated]
            break
        code_index[repeated] = draw_diagnosis_codes(model, rng, version[repeated], chronic[repeated])
    return DiagnosisDraw(admission=admission, code_index=code_index, version=version)


def draw_icu_stays(
    model: Model, rng: np.random.Generator, stays: StayTiming, ward: WardTiming, severity: np.ndarray
) -> IcuTimes:
    """ICU stays per admission by admission type, one after another within the stay's ward time.

    Which admissions have any: those whose latent (following the patient's severity) ranks in
    the top share of the type, so the share by type is kept and sicker patients have more.

    The first starts the drawn time after admittime (at the first ward row at the earliest), each
    next one the drawn time after the previous ends; where they would run past dischtime, the
    offsets and lengths of that stay's ICU stays are shortened in proportion.
    """
    total = stays.total
    window = stays.discharge - ward.ward_start
    drawn = model.icu_stays_given_any.sample(rng, total)
    u = rank_uniform(latent(rng, severity[stays.owner], model.severity.icu_stays))
    n_icu = np.where(u > 1.0 - model.icu_share_by_type[stays.admission_type], drawn, 0)
    n_icu = np.where(window >= MIN_ICU_WINDOW_S * n_icu, n_icu, 0)
    n_stays = int(n_icu.sum())
    admission = np.repeat(np.arange(total), n_icu)
    position = group_position(n_icu)
    los_s = np.maximum((model.icu_los_days.sample(rng, n_stays) * SECONDS_PER_DAY).astype("int64"), 600)
    offset_s = (model.icu_offset_days.sample(rng, n_stays) * SECONDS_PER_DAY).astype("int64")
    from_ward = stays.admit[admission] + offset_s - ward.ward_start[admission]
    offset_s = np.where(position == 0, np.maximum(from_ward, 0), offset_s)
    needed = np.bincount(admission, offset_s + los_s, minlength=total)
    room = window - 60 * n_icu
    factor = np.clip(np.divide(room, needed, out=np.ones(total), where=needed > 0), 0.0, 1.0)[admission]
    offset_s = (offset_s * factor).astype("int64")
    los_s = np.where(factor < 1.0, np.maximum((los_s * factor).astype("int64"), 60), los_s)
    steps = offset_s + np.where(position == 0, 0, np.roll(los_s, 1))
    first_intime = (ward.ward_start[admission] + offset_s)[group_start(n_icu)]
    intime = chained_starts(first_intime, n_icu, steps)
    first_unit = model.careunit.sample_index(rng, n_stays)
    changed = rng.random(n_stays) < model.careunit_change_share
    last_unit = np.where(changed, model.careunit.sample_index(rng, n_stays), first_unit)
    return IcuTimes(
        admission=admission, intime=intime, outtime=intime + los_s, first_unit=first_unit, last_unit=last_unit
    )


def ed_visit_windows(
    patients: PatientDraw, stays: StayTiming, ward: WardTiming, dod_real: np.ndarray, release_end: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per patient, where their ED visits without an admission may fall (real seconds): the
    first visit in [first_from, first_until), every visit starting before ``end``.

    All within the ED module's years, the release and the patient's life. A never-admitted
    patient's first visit falls in their anchor year (as a first admission does); an admitted
    patient's visits fall within ``ED_ONLY_WINDOW_DAYS`` of their first admission and last
    discharge.
    """
    era_start, era_end = year_start_seconds(np.array([ED_MODULE.first_year, ED_MODULE.last_year + 1]))
    n = patients.n
    window = ED_ONLY_WINDOW_DAYS * SECONDS_PER_DAY
    end = np.full(n, min(int(era_end), release_end), dtype="int64")
    end = np.where(dod_real >= 0, np.minimum(end, dod_real), end)
    first_stay = np.full(n, np.iinfo("int64").max)
    np.minimum.at(first_stay, stays.owner, stays.admit)
    last_stay = np.zeros(n, dtype="int64")
    np.maximum.at(last_stay, stays.owner, ward.discharge_event)
    anchor_year_start = year_start_seconds(patients.real_anchor_year)
    admitted = stays.per_patient > 0
    end = np.where(admitted, np.minimum(end, last_stay + window), end)
    first_from = np.maximum(np.where(admitted, first_stay - window, anchor_year_start), era_start)
    first_until = np.where(admitted, end, np.minimum(anchor_year_start + 365 * SECONDS_PER_DAY, end))
    return first_from, first_until, end


def draw_ed_visits_without_admission(
    model: Model,
    rng: np.random.Generator,
    patients: PatientDraw,
    stays: StayTiming,
    ward: WardTiming,
    dod_real: np.ndarray,
    release_end: int,
) -> EdVisits:
    """ED visits that did not lead to an admission, none during one of the patient's stays."""
    counts = draw_ed_visit_counts(model, rng, patients.admitted)
    first_from, first_until, end = ed_visit_windows(patients, stays, ward, dod_real, release_end)
    visits = draw_ed_visits(model, rng, counts, first_from, first_until, end)
    return drop_visits_during_stays(visits, stays.owner, ward.arrival, ward.discharge_event)


def patients_frame(model: Model, patients: PatientDraw, dod_real: np.ndarray) -> pd.DataFrame:
    """``hosp/patients`` rows; the date of death shifted like every date of the patient."""
    dod = (dod_real + patients.shift).astype("datetime64[s]").astype("datetime64[D]")
    return pd.DataFrame(
        {
            "subject_id": patients.subject_id,
            "gender": pd.Categorical.from_codes(np.where(patients.female, 0, 1), categories=["F", "M"]),
            "anchor_age": patients.anchor_age.astype("int64"),
            "anchor_year": patients.anchor_year.astype("int64"),
            "anchor_year_group": pd.Categorical.from_codes(
                patients.group, categories=[f"{s} - {e}" for s, e in model.anchor_year_groups]
            ),
            "dod": np.where(dod_real >= 0, dod, np.datetime64("NaT", "D")),
        }
    )


def admissions_frame(
    model: Model,
    patients: PatientDraw,
    stays: StayTiming,
    hadm_id: np.ndarray,
    died: np.ndarray,
    ed: EdRegistration,
    attributes: dict[str, np.ndarray],
) -> pd.DataFrame:
    """``hosp/admissions`` rows; ``attributes`` holds a category index per admission."""
    shift = patients.shift[stays.owner]
    admit, discharge = stays.admit, stays.discharge

    def categorical(column: str, distribution: Categorical) -> pd.Categorical:
        return _categorical_frame(distribution.values, attributes[column])

    return pd.DataFrame(
        {
            "subject_id": patients.subject_id[stays.owner],
            "hadm_id": hadm_id,
            "admittime": _timestamps(admit + shift),
            "dischtime": _timestamps(discharge + shift),
            "deathtime": _timestamps(discharge + shift, died),
            "admission_type": _categorical_frame(model.admission_type.values, stays.admission_type),
            "admit_provider_id": pd.Categorical.from_codes(
                attributes["admit_provider_id"], categories=list(model.providers)
            ),
            "admission_location": categorical("admission_location", model.admission_location),
            "discharge_location": _categorical_frame(
                model.discharge_values, attributes["discharge_location"]
            ),
            "insurance": categorical("insurance", model.insurance),
            "language": categorical("language", model.language),
            "marital_status": categorical("marital_status", model.marital_status),
            "race": categorical("race", model.race),
            "edregtime": _timestamps(admit - ed.before_s + shift, ed.present),
            "edouttime": _timestamps(admit + ed.after_s + shift, ed.present),
            "hospital_expire_flag": died.astype("int64"),
        }
    )


def diagnoses_frame(
    model: Model, patients: PatientDraw, stays: StayTiming, hadm_id: np.ndarray, diagnoses: DiagnosisDraw
) -> pd.DataFrame:
    """``hosp/diagnoses_icd`` rows, ``seq_num`` 1..n within each admission."""
    return pd.DataFrame(
        {
            "subject_id": patients.subject_id[stays.owner][diagnoses.admission],
            "hadm_id": hadm_id[diagnoses.admission],
            "seq_num": group_position(np.bincount(diagnoses.admission, minlength=stays.total)) + 1,
            "icd_code": pd.Categorical.from_codes(
                model.code_category[diagnoses.code_index], categories=list(model.code_strings)
            ),
            "icd_version": diagnoses.version.astype("int64"),
        }
    )


@dataclass(frozen=True)
class TransferRows:
    """Every transfers row of a chunk before ordering: the ED rows of stays, their chains, and
    the ED visits without an admission (``admission`` -1)."""

    patient: np.ndarray
    admission: np.ndarray
    eventtype: np.ndarray
    careunit: np.ndarray
    intime: np.ndarray
    outtime: np.ndarray
    icu_stay: np.ndarray


def transfer_rows(
    model: Model, stays: StayTiming, ed: EdRegistration, ward: WardTiming, chain: ChainRows, visits: EdVisits
) -> TransferRows:
    """Concatenate the ED rows of stays (``edregtime`` to ``edouttime``, which is when the first
    ward row starts), the stays' chains and the ED visits without an admission."""
    with_ed = np.flatnonzero(ed.present)
    ed_unit = model.transfer_careunits.index(ED_CAREUNIT)
    n_ed, n_visits = with_ed.size, visits.patient.size
    return TransferRows(
        patient=np.concatenate([stays.owner[with_ed], stays.owner[chain.admission], visits.patient]),
        admission=np.concatenate([with_ed, chain.admission, np.full(n_visits, -1)]),
        eventtype=np.concatenate([np.full(n_ed, ED_EVENT), chain.eventtype, np.full(n_visits, ED_EVENT)]),
        careunit=np.concatenate([np.full(n_ed, ed_unit), chain.careunit, np.full(n_visits, ed_unit)]),
        intime=np.concatenate([(stays.admit - ed.before_s)[with_ed], chain.intime, visits.intime]),
        outtime=np.concatenate([ward.ward_start[with_ed], chain.outtime, visits.outtime]),
        icu_stay=np.concatenate([np.full(n_ed, -1), chain.icu_stay, np.full(n_visits, -1)]),
    )


def transfers_frame(
    model: Model,
    patients: PatientDraw,
    hadm_id: np.ndarray,
    rows: TransferRows,
    n_icu: int,
    first_transfer: int,
) -> tuple[pd.DataFrame, np.ndarray]:
    """``hosp/transfers`` rows ordered by patient and time, numbered from ``first_transfer``;
    and the ``stay_id`` of each ICU stay: the ``transfer_id`` of its first row."""
    # a discharge row and the next stay's first row may share a time: the stay order decides
    order = np.lexsort((np.arange(rows.patient.size), rows.admission, rows.intime, rows.patient))
    transfer_id = np.empty(order.size, dtype="int64")
    transfer_id[order] = first_transfer + np.arange(order.size, dtype="int64")
    stay_id = np.empty(n_icu, dtype="int64")
    opens_icu = rows.icu_stay >= 0
    stay_id[rows.icu_stay[opens_icu]] = transfer_id[opens_icu]
    patient, admission, outtime = rows.patient[order], rows.admission[order], rows.outtime[order]
    shift = patients.shift[patient]
    hadm = np.zeros(order.size, dtype="int64")
    hadm[admission >= 0] = hadm_id[admission[admission >= 0]]
    frame = pd.DataFrame(
        {
            "subject_id": patients.subject_id[patient],
            "hadm_id": pd.arrays.IntegerArray(hadm, admission < 0),
            "transfer_id": transfer_id[order],
            "eventtype": pd.Categorical.from_codes(rows.eventtype[order], categories=list(EVENTTYPES)),
            "careunit": pd.Categorical.from_codes(
                rows.careunit[order], categories=list(model.transfer_careunits)
            ),
            "intime": _timestamps(rows.intime[order] + shift),
            "outtime": _timestamps(outtime + shift, outtime >= 0),
        }
    )
    return frame, stay_id


def icustays_frame(
    model: Model,
    patients: PatientDraw,
    stays: StayTiming,
    hadm_id: np.ndarray,
    icu: IcuTimes,
    stay_id: np.ndarray,
) -> pd.DataFrame:
    """``icu/icustays`` rows, times shifted like the patient's, ``los`` in fractional days."""
    shift = patients.shift[stays.owner][icu.admission]
    return pd.DataFrame(
        {
            "subject_id": patients.subject_id[stays.owner][icu.admission],
            "hadm_id": hadm_id[icu.admission],
            "stay_id": stay_id,
            "first_careunit": _categorical_frame(model.careunit.values, icu.first_unit),
            "last_careunit": _categorical_frame(model.careunit.values, icu.last_unit),
            "intime": _timestamps(icu.intime + shift),
            "outtime": _timestamps(icu.outtime + shift),
            "los": (icu.outtime - icu.intime) / SECONDS_PER_DAY,
        }
    )


def codes_used(model: Model, diagnoses: DiagnosisDraw) -> set[tuple[int, str]]:
    """(ICD revision, code) of every code the chunk's diagnoses use, for d_icd_diagnoses."""
    return {
        (9 if c < model.code_offset[10] else 10, str(model.code_values[c]))
        for c in np.unique(diagnoses.code_index)
    }


def generate_chunk(
    model: Model, rng: np.random.Generator, first_subject: int, n: int, first_hadm: int, first_transfer: int
) -> ChunkResult:
    """Generate ``n`` patients (ids from ``first_subject``) and all their rows.

    The draws run in a fixed order on one random stream, so the same seed gives the same rows.
    """
    release_end = release_end_seconds(model)
    admitted = rng.random(n) < model.admitted_share
    severity = rng.standard_normal(n)  # each patient's latent severity
    patients = draw_patients(model, rng, first_subject, admitted)
    stays = draw_stays(model, rng, admitted, patients.real_anchor_year, release_end, severity)
    died_patient, died = draw_hospital_deaths(model, rng, stays, severity)
    ed = draw_ed_registration(model, rng, stays)
    ward = draw_ward_timing(model, rng, stays, ed)
    attributes = draw_admission_attributes(model, rng, stays, died)
    dod_real = draw_dates_of_death(model, rng, stays, died_patient, release_end, severity)
    diagnoses = draw_diagnoses(model, rng, stays.admit, severity[stays.owner])
    icu = draw_icu_stays(model, rng, stays, ward, severity)
    chain = draw_transfer_chains(model, rng, ward.ward_start, stays.discharge, ward.discharge_event, icu)
    visits = draw_ed_visits_without_admission(model, rng, patients, stays, ward, dod_real, release_end)

    hadm_id = first_hadm + np.arange(stays.total, dtype="int64")
    rows = transfer_rows(model, stays, ed, ward, chain, visits)
    transfers, stay_id = transfers_frame(model, patients, hadm_id, rows, icu.admission.size, first_transfer)
    return ChunkResult(
        tables={
            "hosp/patients": patients_frame(model, patients, dod_real),
            "hosp/admissions": admissions_frame(model, patients, stays, hadm_id, died, ed, attributes),
            "hosp/diagnoses_icd": diagnoses_frame(model, patients, stays, hadm_id, diagnoses),
            "hosp/transfers": transfers,
            "icu/icustays": icustays_frame(model, patients, stays, hadm_id, icu, stay_id),
        },
        codes_used=codes_used(model, diagnoses),
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
    next_hadm, next_transfer = HADM_ID_BASE, TRANSFER_ID_BASE
    n_chunks = -(-patients // chunk_patients)
    try:
        for chunk, first in enumerate(range(0, patients, chunk_patients)):
            n = min(chunk_patients, patients - first)
            rng = np.random.default_rng([seed, chunk])
            result = generate_chunk(model, rng, SUBJECT_ID_BASE + first, n, next_hadm, next_transfer)
            for name, frame in result.tables.items():
                writers[name].write(_csv_bytes(con, name, frame, scratch))
                rows[name] += len(frame)
            next_hadm += len(result.tables["hosp/admissions"])
            next_transfer += len(result.tables["hosp/transfers"])
            if next_hadm >= HADM_ID_BASE + ID_SPAN:
                raise GeneratorError("too many admissions for MIMIC-IV's 8-digit hadm_id range")
            codes_used |= result.codes_used
            if progress is not None:
                progress(
                    f"chunk {chunk + 1}/{n_chunks}: {first + n:,} patients, "
                    f"{rows['hosp/admissions']:,} admissions, {rows['hosp/diagnoses_icd']:,} diagnoses, "
                    f"{rows['icu/icustays']:,} ICU stays, {rows['hosp/transfers']:,} transfers "
                    f"({time.perf_counter() - started:.1f} s)"
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
