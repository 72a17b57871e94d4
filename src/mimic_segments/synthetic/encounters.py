"""Where each patient was, for ``hosp/transfers``: each stay's chain of locations, and ED visits
that did not lead to an admission.

Pure functions of arrays (real times in seconds) and a random stream. A stay's chain runs from
its first ward row (``admit``) through ward moves and ICU stays (``transfer``) to ``discharge``;
the ICU rows are the ICU stays of ``icu/icustays``, with their times. ED visits without an
admission are drawn per patient: a count, a first visit in a window, later visits after gaps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mimic_segments.synthetic.arrays import chained_starts, group_position, last_at_or_before, take
from mimic_segments.synthetic.model import SECONDS_PER_DAY, Model

EVENTTYPES = ("ED", "admit", "transfer", "discharge")  # MIMIC-IV's spellings (demo: all four)
ED_EVENT, ADMIT_EVENT, TRANSFER_EVENT, DISCHARGE_EVENT = range(len(EVENTTYPES))

# Boundaries of a chain, by what happens at them; at equal times the higher one wins.
_WARD, _ICU_LAST_UNIT, _ICU_FIRST_UNIT, _DISCHARGE = 1, 2, 3, 4


@dataclass(frozen=True)
class IcuTimes:
    """ICU stays: the stay (index into the chunk's admissions), real times and care units."""

    admission: np.ndarray
    intime: np.ndarray
    outtime: np.ndarray
    first_unit: np.ndarray  # index into Model.careunit.values
    last_unit: np.ndarray


@dataclass(frozen=True)
class ChainRows:
    """The admit, transfer and discharge rows of the chunk's stays, in time order per stay."""

    admission: np.ndarray
    eventtype: np.ndarray  # index into EVENTTYPES
    careunit: np.ndarray  # index into Model.transfer_careunits; -1 for a discharge
    intime: np.ndarray
    outtime: np.ndarray  # -1 for a discharge
    icu_stay: np.ndarray  # the ICU stay this row opens, or -1


@dataclass(frozen=True)
class EdVisits:
    """ED visits that did not lead to an admission (no ``hadm_id``)."""

    patient: np.ndarray
    intime: np.ndarray
    outtime: np.ndarray

    def select(self, keep: np.ndarray) -> EdVisits:
        return EdVisits(self.patient[keep], self.intime[keep], self.outtime[keep])


def _ward_cuts(
    model: Model, rng: np.random.Generator, ward_start: np.ndarray, end: np.ndarray, icu: IcuTimes
) -> tuple[np.ndarray, np.ndarray]:
    """Ward moves: the demo's count per stay, at uniform times, none inside an ICU stay."""
    moves = model.ward_moves.sample(rng, ward_start.size)
    admission = np.repeat(np.arange(ward_start.size), moves)
    span = (end - ward_start)[admission]
    time = ward_start[admission] + (rng.random(admission.size) * span).astype("int64")
    last_icu = last_at_or_before(icu.admission, icu.intime, admission, time)
    inside = time < take(icu.outtime, last_icu, -1)
    return admission[~inside], time[~inside]


def draw_transfer_chains(
    model: Model,
    rng: np.random.Generator,
    ward_start: np.ndarray,
    dischtime: np.ndarray,
    discharge_event: np.ndarray,
    icu: IcuTimes,
) -> ChainRows:
    """Each stay's rows from ``ward_start`` to its discharge row at ``discharge_event``.

    ICU stays must lie within [ward_start, dischtime], in time order per stay, and
    ``discharge_event`` must not be before ``dischtime``. A stay whose ICU stay changes unit moves
    at a uniform time within it.
    """
    cut_admission, cut_time = _ward_cuts(model, rng, ward_start, dischtime, icu)
    changed = icu.first_unit != icu.last_unit
    split = icu.intime + 1 + (rng.random(icu.admission.size) * (icu.outtime - icu.intime - 1)).astype("int64")
    stays = np.arange(ward_start.size)
    # (admission, time, kind, ICU stay) of every boundary: a row starts at each
    boundaries = [
        (stays, ward_start, _WARD, -1),
        (cut_admission, cut_time, _WARD, -1),
        (icu.admission, icu.intime, _ICU_FIRST_UNIT, np.arange(icu.admission.size)),
        (icu.admission[changed], split[changed], _ICU_LAST_UNIT, np.flatnonzero(changed)),
        (icu.admission, icu.outtime, _WARD, -1),
        (stays, discharge_event, _DISCHARGE, -1),
    ]
    admission = np.concatenate([b[0] for b in boundaries])
    time = np.concatenate([b[1] for b in boundaries])
    kind = np.concatenate([np.full(b[0].size, b[2]) for b in boundaries])
    icu_index = np.concatenate([np.broadcast_to(b[3], b[0].shape) for b in boundaries])
    order = np.lexsort((-kind, time, admission))
    admission, time, kind, icu_index = admission[order], time[order], kind[order], icu_index[order]
    # one row per boundary time: at equal times the ICU or the discharge wins over a ward move
    first_at_time = np.ones(admission.size, dtype=bool)
    first_at_time[1:] = (admission[1:] != admission[:-1]) | (time[1:] != time[:-1])
    admission, time, kind, icu_index = (x[first_at_time] for x in (admission, time, kind, icu_index))
    return _chain_rows(model, rng, admission, time, kind, icu_index, icu)


def _chain_rows(
    model: Model,
    rng: np.random.Generator,
    admission: np.ndarray,
    time: np.ndarray,
    kind: np.ndarray,
    icu_index: np.ndarray,
    icu: IcuTimes,
) -> ChainRows:
    """Rows from sorted boundaries: each boundary opens a row that ends at the next one."""
    position = group_position(np.bincount(admission))
    is_discharge = kind == _DISCHARGE
    unit = np.full(admission.size, -1, dtype="int64")
    first_ward = (kind == _WARD) & (position == 0)
    later_ward = (kind == _WARD) & (position > 0)
    unit[first_ward] = model.transfer_unit_index(model.first_ward_unit)[
        model.first_ward_unit.sample_index(rng, int(first_ward.sum()))
    ]
    unit[later_ward] = model.transfer_unit_index(model.later_ward_unit)[
        model.later_ward_unit.sample_index(rng, int(later_ward.sum()))
    ]
    icu_units = model.transfer_unit_index(model.careunit)
    opens_icu = kind == _ICU_FIRST_UNIT
    unit[opens_icu] = icu_units[icu.first_unit[icu_index[opens_icu]]]
    unit[kind == _ICU_LAST_UNIT] = icu_units[icu.last_unit[icu_index[kind == _ICU_LAST_UNIT]]]
    eventtype = np.where(is_discharge, DISCHARGE_EVENT, np.where(position == 0, ADMIT_EVENT, TRANSFER_EVENT))
    outtime = np.where(is_discharge, -1, np.roll(time, -1))
    return ChainRows(
        admission=admission,
        eventtype=eventtype,
        careunit=unit,
        intime=time,
        outtime=outtime,
        icu_stay=np.where(opens_icu, icu_index, -1),
    )


def draw_ed_visit_counts(model: Model, rng: np.random.Generator, admitted: np.ndarray) -> np.ndarray:
    """ED visits without an admission per patient: at least one for each never-admitted patient
    (the only way into MIMIC-IV without an ICU stay is its ED), the demo's share of the admitted;
    visits after a patient's first are kept with the release's keep share."""
    n = admitted.size
    any_visit = ~admitted | (rng.random(n) < model.ed_only_share_admitted)
    drawn = model.ed_only_visits_given_any.sample(rng, n)
    if model.ed_only_extra_keep_share < 1.0:
        drawn = 1 + rng.binomial(drawn - 1, model.ed_only_extra_keep_share)
    return np.where(any_visit, drawn, 0)


def draw_ed_visits(
    model: Model,
    rng: np.random.Generator,
    counts: np.ndarray,
    first_from: np.ndarray,
    first_until: np.ndarray,
    end: np.ndarray,
) -> EdVisits:
    """Each patient's ED visits without an admission: the first at a uniform minute of
    [first_from, first_until), each later one the demo's gap after the previous ends; visits
    that would start at or after ``end`` (per patient) are not kept, nor any of a patient whose
    window is empty."""
    counts = np.where(first_until > first_from, counts, 0)
    patient = np.repeat(np.arange(counts.size), counts)
    total = patient.size
    hours = np.maximum(model.ed_only_hours.sample(rng, total) * 60, 1).astype("int64") * 60
    gap_s = np.maximum(model.ed_only_gap_days.sample(rng, total) * SECONDS_PER_DAY, 3600).astype("int64")
    first = first_from + (rng.random(counts.size) * (first_until - first_from)).astype("int64")
    first -= first % 60
    gap_s -= gap_s % 60
    steps = np.where(group_position(counts) == 0, 0, np.roll(hours, 1) + gap_s)
    intime = chained_starts(first[patient], counts, steps)
    visits = EdVisits(patient=patient, intime=intime, outtime=intime + hours)
    return visits.select(visits.intime < end[patient])


def drop_visits_during_stays(
    visits: EdVisits, stay_patient: np.ndarray, stay_start: np.ndarray, stay_end: np.ndarray
) -> EdVisits:
    """Visits that overlap one of the patient's stays (from ED arrival to discharge) are dropped.

    Stays must be sorted by patient, then time, and not overlap each other.
    """
    last = last_at_or_before(stay_patient, stay_start, visits.patient, visits.outtime)
    overlaps = take(stay_end, last, -1) >= visits.intime
    return visits.select(~overlaps)
