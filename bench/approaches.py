"""The two non-dbt ways of computing `patient_features` + K-Means that the benchmark times.

(b) ``pandas``: what a user would otherwise write in a notebook: pandas reads the release's
    gzipped CSVs (and the same reference code lists the project seeds), computes each feature
    with sort/groupby/merge and whole-column numpy, then scikit-learn clusters (StandardScaler +
    K-Means, through the project's ``fit_segments`` so that the fit is the same).
(c) ``duckdb``: the lower bound: one hand-written DuckDB query over the same files for the same
    features, then the same fit.

Both follow the definitions of the dbt models exactly (docs/*.md), over each patient's whole
history: utilization and length of stay, split into inpatient and observation stays by the
encounter class of each ``admission_type`` (seeds/encounters/; a type missing there is an
error); the as-of date estimated per patient from the anchor year group and the release's last
data year; hospital episodes (a stay that overlaps the patient's earlier stays or starts within
var ``episode_max_gap_hours`` of their latest discharge continues their episode), the episodes
that count under var ``readmission_definition`` (``inpatient``: those holding an inpatient
stay, and a readmission whose first counted stay has a planned principal diagnosis, seed
planned_readmission_diagnoses, is not an early one) and the early readmissions between them
(calendar days from the previous counted episode's discharge <= var
``readmission_window_days``, no readmission after an in-hospital death), the index stays and
the median gap between them; the share of emergency admissions by encounter class; ED visits
from ``hosp/transfers`` (``ED`` rows of a patient that meet or overlap are one visit; it led to
an admission when a row has a ``hadm_id``), the most in any 365 days and the days since the
last; distinct (version, code) diagnoses; HCUP chronic conditions and their coverage; the
Charlson condition score (Quan 2005 codes, hierarchy: the heaviest condition of each group
counts) and index (plus age points); ICU stays and days; in-hospital death, death within a year
of the last discharge, any known death. The benchmark checks that (a), (b) and (c) agree on
every column for every patient before it times them; tests/python/test_demo_recomputed.py checks
(b) against the dbt build of the real demo.

Run one approach (the benchmark runs each in its own process to measure its peak memory)::

    python bench/approaches.py {pandas,duckdb} --release-dir DIR --last-data-year 2022 \\
        [--features-out features.parquet]
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import yaml
from threadpoolctl import threadpool_limits

from mimic_segments.catalogue import features as features_catalogue
from mimic_segments.segmentation.clustering import fit_segments
from mimic_segments.segmentation.settings import N_INIT, parse_k
from mimic_segments.synthetic.fit import COLUMNS as MIMIC_COLUMNS

REPO_ROOT = Path(__file__).resolve().parents[1]
CHARLSON_CONDITIONS = REPO_ROOT / "seeds" / "charlson" / "charlson_conditions.csv"
CHARLSON_CODES = REPO_ROOT / "seeds" / "charlson" / "charlson_icd_codes.csv"
HCUP_INDICATORS = REPO_ROOT / "seeds" / "reference" / "hcup_chronic_condition_indicators.csv"
ADMISSION_TYPE_CLASSES = REPO_ROOT / "seeds" / "encounters" / "admission_type_classes.csv"
ENCOUNTER_CLASSES = REPO_ROOT / "seeds" / "encounters" / "encounter_classes.csv"
PLANNED_READMISSION_DIAGNOSES = REPO_ROOT / "seeds" / "readmissions" / "planned_readmission_diagnoses.csv"
READMISSION_DEFINITIONS = ("inpatient", "all_stays")
# ED visits arriving in the 365 days from a visit, itself included (max_ed_visits_in_365_days)
ED_WINDOW_SECONDS = 365 * 86_400

# The columns of segmentation.patient_features, in order.
FEATURE_COLUMNS = (
    "subject_id",
    "num_admissions",
    "num_inpatient_stays",
    "num_observation_stays",
    "avg_length_of_stay_days",
    "total_length_of_stay_days",
    "days_since_last_admission",
    "emergency_admission_share",
    "num_ed_visits",
    "num_ed_visits_without_admission",
    "max_ed_visits_in_365_days",
    "days_since_last_ed_visit",
    "early_readmissions",
    "readmission_index_stays",
    "readmission_rate",
    "median_days_between_admissions",
    "num_unique_icd_diagnoses",
    "charlson_comorbidity_index",
    "charlson_condition_score",
    "num_charlson_conditions",
    "num_chronic_conditions",
    "has_chronic_condition",
    "chronic_determination_coverage",
    "icu_stay_count",
    "total_icu_days",
    "in_hospital_death",
    "died_within_1y_of_last_discharge",
    "is_known_deceased",
    "gender",
    "age_at_last_admission",
    "age_bucket",
    "anchor_year_group",
    "estimated_as_of_date",
)


@dataclass(frozen=True)
class ProjectVars:
    cluster_features: list[str]
    cluster_log1p_features: list[str]
    cluster_k: int
    cluster_random_state: int
    clustering_population_min_admissions: int
    readmission_window_days: int
    readmission_definition: str
    episode_max_gap_hours: float

    @property
    def episode_max_gap_seconds(self) -> int:
        """The gap rule in whole seconds, as macro continues_previous_stay compares it."""
        return round(self.episode_max_gap_hours * 3600)


def project_vars() -> ProjectVars:
    """The vars of dbt_project.yml and the feature catalogue that the features and the fit
    depend on (one truth each), checked as the project's macros check them.

    The benchmark compares the default segmentation: a fixed ``cluster_k`` and no demographic
    clustering inputs; other settings are refused rather than silently compared wrongly.
    """
    project = yaml.safe_load((REPO_ROOT / "dbt_project.yml").read_text())
    variables: dict[str, Any] = project["vars"]
    catalogue = features_catalogue.load_catalogue()
    k = parse_k(variables["cluster_k"])
    demographics = str(variables.get("cluster_include_demographics", False)).lower() in ("true", "1", "yes")
    if not isinstance(k, int) or demographics:
        raise ValueError("the benchmark needs an integer cluster_k and cluster_include_demographics: false")
    definition = str(variables.get("readmission_definition", "inpatient"))
    if definition not in READMISSION_DEFINITIONS:
        raise ValueError(
            f"var readmission_definition={definition!r}: expected one of {READMISSION_DEFINITIONS}"
        )
    window_days = int(variables["readmission_window_days"])
    gap_hours = float(variables["episode_max_gap_hours"])
    if window_days < 1 or gap_hours < 0:
        raise ValueError(
            f"var readmission_window_days={window_days} must be >= 1 "
            f"and episode_max_gap_hours={gap_hours} >= 0"
        )
    return ProjectVars(
        cluster_features=features_catalogue.clustered(catalogue),
        cluster_log1p_features=features_catalogue.log1p_clustered(catalogue),
        cluster_k=k,
        cluster_random_state=int(variables["cluster_random_state"]),
        clustering_population_min_admissions=int(variables["clustering_population_min_admissions"]),
        readmission_window_days=window_days,
        readmission_definition=definition,
        episode_max_gap_hours=gap_hours,
    )


def _charlson_age_points(age: pd.Series) -> pd.Series:
    below = [(age < bound).fillna(False).to_numpy(dtype=bool) for bound in (50, 60, 70, 80)]
    points = np.select(below, [0, 1, 2, 3], default=4)
    return pd.Series(points, index=age.index).where(age.notna()).astype("Int64")


# --------------------------------------------------------------------------------------------
# (b) pandas
# --------------------------------------------------------------------------------------------

TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"
# transfers is read in chunks, keeping only the ED rows: the whole table is several times the
# admissions, and its other rows are not needed
TRANSFERS_CHUNK_ROWS = 2_000_000


def _read_ed_rows(path: Path) -> pd.DataFrame:
    """The ``ED`` rows of hosp/transfers (``eventtype`` trimmed, any case), times parsed."""
    chunks = []
    with pd.read_csv(
        path,
        usecols=["subject_id", "hadm_id", "transfer_id", "eventtype", "intime", "outtime"],
        dtype={
            "subject_id": "int64",
            "hadm_id": "float64",
            "transfer_id": "int64",
            "eventtype": "category",
        },
        parse_dates=["intime", "outtime"],
        date_format=TIMESTAMP_FORMAT,
        chunksize=TRANSFERS_CHUNK_ROWS,
    ) as reader:
        for chunk in reader:
            types = chunk["eventtype"].cat.categories
            ed_types = types[types.str.strip().str.lower() == "ed"]
            chunks.append(chunk.loc[chunk["eventtype"].isin(ed_types)].drop(columns="eventtype"))
    return pd.concat(chunks, ignore_index=True)


def _readers(release_dir: Path) -> dict[str, Callable[[], pd.DataFrame]]:
    """How to read each table of the release, for pandas_features to call when it needs it:
    the diagnoses, by far the largest, are read and reduced first, so that their peak is not
    stacked on the other tables (or on what is left of them in the allocator)."""
    hosp, icu = release_dir / "hosp", release_dir / "icu"
    return {
        "patients": lambda: pd.read_csv(
            hosp / "patients.csv.gz",
            usecols=["subject_id", "gender", "anchor_age", "anchor_year", "anchor_year_group", "dod"],
            dtype={"subject_id": "int64", "gender": "str", "anchor_age": "int64", "anchor_year": "int64"},
            parse_dates=["dod"],
            date_format="%Y-%m-%d",
        ),
        "admissions": lambda: pd.read_csv(
            hosp / "admissions.csv.gz",
            usecols=[
                "subject_id",
                "hadm_id",
                "admittime",
                "dischtime",
                "admission_type",
                "hospital_expire_flag",
            ],
            dtype={"subject_id": "int64", "hadm_id": "int64", "admission_type": "category"},
            parse_dates=["admittime", "dischtime"],
            date_format=TIMESTAMP_FORMAT,
        ),
        "diagnoses": lambda: pd.read_csv(
            hosp / "diagnoses_icd.csv.gz",
            usecols=["subject_id", "hadm_id", "seq_num", "icd_code", "icd_version"],
            dtype={
                "subject_id": "int64",
                "hadm_id": "int64",
                "seq_num": "int16",
                "icd_code": "str",
                "icd_version": "int64",
            },
        ),
        "ed_rows": lambda: _read_ed_rows(hosp / "transfers.csv.gz"),
        "icustays": lambda: pd.read_csv(
            icu / "icustays.csv.gz",
            usecols=["subject_id", "intime", "outtime", "los"],
            dtype={"subject_id": "int64", "los": "float64"},
            parse_dates=["intime", "outtime"],
            date_format=TIMESTAMP_FORMAT,
        ),
    }


def _starts_group(keys: np.ndarray) -> np.ndarray:
    """Where each run of equal keys starts (rows sorted by key)."""
    starts = np.ones(len(keys), dtype=bool)
    starts[1:] = keys[1:] != keys[:-1]
    return starts


def _previous(values: np.ndarray, starts: np.ndarray, missing: Any) -> np.ndarray:
    """Each row's previous value within its group (``starts`` from _starts_group), ``missing`` first."""
    previous = np.roll(values, 1)
    previous[starts] = missing
    return previous


def _next(values: np.ndarray, starts: np.ndarray, missing: Any) -> np.ndarray:
    """Each row's next value within its group, ``missing`` for the last."""
    following = np.roll(values, -1)
    ends = np.roll(starts, -1)  # the row before a group's start ends the previous group
    following[ends] = missing
    return following


def _per_patient(subject_id: np.ndarray, **columns: tuple[np.ndarray, str]) -> pd.DataFrame:
    """One row per patient (indexed by subject_id): each ``name=(values, aggregation)``."""
    frame = pd.DataFrame({"subject_id": subject_id} | {name: values for name, (values, _) in columns.items()})
    return frame.groupby("subject_id", sort=False).agg({name: how for name, (_, how) in columns.items()})


def _encounter_classes() -> pd.DataFrame:
    """admission_type -> is_inpatient, is_emergency, from the two encounter seeds."""
    booleans = {"true_values": ["true"], "false_values": ["false"]}
    types = pd.read_csv(ADMISSION_TYPE_CLASSES, usecols=["admission_type", "encounter_class"], dtype="str")
    classes = pd.read_csv(
        ENCOUNTER_CLASSES,
        usecols=["encounter_class", "is_inpatient", "is_emergency"],
        dtype={"encounter_class": "str", "is_inpatient": "bool", "is_emergency": "bool"},
        **booleans,
    )
    return types.merge(classes, on="encounter_class", validate="many_to_one").set_index("admission_type")


def _classify_admissions(admissions: pd.DataFrame, source: Path) -> tuple[np.ndarray, np.ndarray]:
    """(is_inpatient, is_emergency) per admission, by the encounter class of its admission_type
    (upper-cased, trimmed, as staging reads it). A type missing from the seed is an error."""
    types = admissions["admission_type"]
    normalized = pd.Series(types.cat.categories.str.strip().str.upper())
    classes = _encounter_classes()
    known = normalized.isin(classes.index).to_numpy()
    codes = types.cat.codes.to_numpy()
    unknown = (codes < 0) | ~known[codes]
    if unknown.any():
        counts = normalized.reindex(codes[unknown]).fillna("<empty>").value_counts().sort_index()
        described = ", ".join(f"{value!r} ({count:,} admissions)" for value, count in counts.items())
        raise ValueError(
            f"admission_type {described} in {source} (column admission_type) is not in "
            f"{ADMISSION_TYPE_CLASSES.relative_to(REPO_ROOT)}: add a row for it with its encounter_class"
        )
    per_category = classes.reindex(normalized)
    return (
        per_category["is_inpatient"].to_numpy(dtype=bool)[codes],
        per_category["is_emergency"].to_numpy(dtype=bool)[codes],
    )


def _planned_principal_admissions(diagnoses: pd.DataFrame) -> pd.Index:
    """The hadm_ids whose principal diagnosis (seq_num 1) is an always-planned one."""
    principal = diagnoses.loc[diagnoses["seq_num"] == 1, ["hadm_id", "icd_version", "icd_code"]]
    principal = principal.assign(icd_code=principal["icd_code"].str.strip().str.upper())
    planned = pd.read_csv(
        PLANNED_READMISSION_DIAGNOSES,
        usecols=["icd_version", "icd_code"],
        dtype={"icd_version": "int64", "icd_code": "str"},
    )
    return pd.Index(principal.merge(planned, on=["icd_version", "icd_code"])["hadm_id"].unique())


def _pandas_admissions(
    admissions: pd.DataFrame, planned_hadm_ids: pd.Index, variables: ProjectVars, source: Path
) -> pd.DataFrame:
    """Per patient: utilization by encounter class, readmissions over counted hospital episodes,
    emergency admissions, deaths. Every step is a whole-column operation over admissions sorted
    by patient and start (no per-patient Python)."""
    adm = admissions.sort_values(["subject_id", "admittime", "hadm_id"], kind="mergesort", ignore_index=True)
    subject = adm["subject_id"].to_numpy()
    admit = adm["admittime"].to_numpy()
    discharge = adm["dischtime"].to_numpy()
    died = (adm["hospital_expire_flag"] == 1).to_numpy()
    inpatient, emergency = _classify_admissions(adm, source)
    if variables.readmission_definition == "inpatient":
        counted = inpatient
        planned = adm["hadm_id"].isin(planned_hadm_ids).to_numpy()
    else:  # all_stays: every stay counts, none is set aside as planned
        counted = np.ones(len(adm), dtype=bool)
        planned = np.zeros(len(adm), dtype=bool)

    # Episodes: a stay that starts before, or within the gap after, the latest discharge of the
    # patient's earlier stays continues their episode. Episode ids are global, increasing.
    patient_starts = _starts_group(subject)
    latest_discharge = adm.groupby("subject_id", sort=False)["dischtime"].cummax().to_numpy()
    prior_discharge = _previous(latest_discharge, patient_starts, np.datetime64("NaT"))
    gap_seconds = (admit - prior_discharge) / np.timedelta64(1, "s")  # NaN for a first stay
    continues = gap_seconds <= variables.episode_max_gap_seconds
    episode = np.cumsum(~continues)
    episode_starts = np.flatnonzero(~continues)

    # One row per episode: the first stay starts it (stays are sorted by start), the latest
    # discharge ends it; it counts if it holds a counted stay, and is planned if its first
    # counted stay is.
    episode_admit = admit[episode_starts]
    episode_discharge = np.maximum.reduceat(discharge.view("int64"), episode_starts).view(discharge.dtype)
    episode_died = np.logical_or.reduceat(died, episode_starts)
    episode_counted = np.logical_or.reduceat(counted, episode_starts)
    counted_rows = np.flatnonzero(counted)
    opening_rows = counted_rows[_starts_group(episode[counted_rows])]
    episode_planned = np.zeros(len(episode_starts), dtype=bool)
    episode_planned[episode[opening_rows] - 1] = planned[opening_rows]

    # Counted episodes beside the patient's previous counted episode
    kept = np.flatnonzero(episode_counted)
    kept_subject = subject[episode_starts][kept]
    kept_starts = _starts_group(kept_subject)
    kept_died = episode_died[kept]
    previous_discharge = _previous(episode_discharge[kept], kept_starts, np.datetime64("NaT"))
    days = (
        episode_admit[kept].astype("datetime64[D]") - previous_discharge.astype("datetime64[D]")
    ) / np.timedelta64(1, "D")
    previous_died = _previous(kept_died, kept_starts, True)
    early = ~previous_died & ~episode_planned[kept] & (days <= variables.readmission_window_days)
    index_stay = ~kept_died
    followed = index_stay & _next(early, kept_starts, False)
    retention = _per_patient(
        kept_subject,
        early_readmissions=(early, "sum"),
        readmission_index_stays=(index_stay, "sum"),
        index_stays_early_readmitted=(followed, "sum"),
        median_days_between_admissions=(days, "median"),
    )
    utilization = _per_patient(
        subject,
        num_admissions=(inpatient, "size"),
        num_inpatient_stays=(inpatient, "sum"),
        total_stay_seconds=((discharge - admit) / np.timedelta64(1, "s"), "sum"),
        last_admitted_at=(admit, "max"),
        last_discharged_at=(discharge, "max"),
        emergency_admissions=(emergency, "sum"),
        hospital_deaths=(died, "sum"),
    )
    utilization["num_observation_stays"] = utilization["num_admissions"] - utilization["num_inpatient_stays"]
    utilization["total_length_of_stay_days"] = utilization.pop("total_stay_seconds") / 86400.0
    utilization["avg_length_of_stay_days"] = (
        utilization["total_length_of_stay_days"] / utilization["num_admissions"]
    )
    utilization["last_admit_year"] = utilization["last_admitted_at"].dt.year
    return utilization.join(retention, how="left")


def _pandas_ed_visits(ed_rows: pd.DataFrame) -> pd.DataFrame:
    """Per patient with an ED visit: visits (rows of the patient that meet or overlap are one),
    those that led to no admission, the latest arrival, and the most arriving in any 365 days."""
    rows = ed_rows.sort_values(["subject_id", "intime", "transfer_id"], kind="mergesort", ignore_index=True)
    rows["outtime"] = rows["outtime"].fillna(rows["intime"])  # no end: it ends where it starts
    subject = rows["subject_id"].to_numpy()
    latest_left = rows.groupby("subject_id", sort=False)["outtime"].cummax().to_numpy()
    prior_left = _previous(latest_left, _starts_group(subject), np.datetime64("NaT"))
    continues = rows["intime"].to_numpy() <= prior_left  # False against NaT
    visit_starts = np.flatnonzero(~continues)
    visit_subject = subject[visit_starts]
    arrived = rows["intime"].to_numpy()[visit_starts]
    admitted = np.logical_or.reduceat(rows["hadm_id"].notna().to_numpy(), visit_starts)

    # visits arriving in [arrival, arrival + 365 days), by binary search on one increasing key:
    # the patient's rank spaced far enough apart that no window reaches the next patient
    earliest = arrived.min() if len(arrived) else np.datetime64(0, "s")
    seconds = np.asarray((arrived - earliest) // np.timedelta64(1, "s"), dtype="int64")
    span = int(seconds.max(initial=0)) + ED_WINDOW_SECONDS + 1
    patient_rank = np.cumsum(_starts_group(visit_subject)) - 1
    if int(patient_rank.max(initial=0)) + 1 > np.iinfo("int64").max // span:
        raise ValueError("ED arrival times span too long a period to key by patient in 64 bits")
    key = patient_rank * span + seconds
    in_window = np.searchsorted(key, key + ED_WINDOW_SECONDS, side="left") - np.arange(len(key))

    return _per_patient(
        visit_subject,
        num_ed_visits=(arrived, "size"),
        num_ed_visits_without_admission=(~admitted, "sum"),
        last_ed_arrived_at=(arrived, "max"),
        max_ed_visits_in_365_days=(in_window, "max"),
    )


def _pandas_charlson_matches(codes: pd.DataFrame) -> pd.DataFrame:
    """(icd_version, icd_code, condition) for every distinct code matching a Quan 2005 rule."""
    rules = pd.read_csv(CHARLSON_CODES, dtype=str, keep_default_na=False)
    rules["icd_version"] = rules["icd_version"].astype("int64")
    matches = []
    for length, group in rules.groupby(rules["code_from"].str.len()):
        prefixed = codes.assign(prefix=codes["icd_code"].str[:length])
        prefix_rules = group[group["match_type"] == "prefix"]
        matches.append(
            prefixed.merge(
                prefix_rules, left_on=["icd_version", "prefix"], right_on=["icd_version", "code_from"]
            )[["icd_version", "icd_code", "condition"]]
        )
        for rule in group[group["match_type"] == "range"].itertuples():
            hit = prefixed[
                (prefixed["icd_version"] == rule.icd_version)
                & (prefixed["prefix"] >= rule.code_from)
                & (prefixed["prefix"] <= rule.code_to)
            ]
            matches.append(hit[["icd_version", "icd_code"]].assign(condition=rule.condition))
    return pd.concat(matches, ignore_index=True).drop_duplicates()


def _pandas_diagnoses(diagnoses: pd.DataFrame) -> pd.DataFrame:
    """Per patient: distinct codes, HCUP chronic conditions and coverage, Charlson score."""
    dx = diagnoses.assign(icd_code=diagnoses["icd_code"].str.strip().str.upper())
    dx = dx.dropna(subset=["icd_code"])
    dx["code_key"] = dx["icd_version"].astype(str) + ":" + dx["icd_code"]
    hcup = pd.read_csv(
        HCUP_INDICATORS, dtype={"icd_version": "int64", "icd_code": "str", "chronic_status": "str"}
    )
    codes = dx[["icd_version", "icd_code"]].drop_duplicates()
    codes = codes.merge(
        hcup[["icd_version", "icd_code", "chronic_status"]], on=["icd_version", "icd_code"], how="left"
    )
    dx = dx.merge(codes, on=["icd_version", "icd_code"], how="left")
    dx["determined"] = dx["chronic_status"].isin(["chronic", "not_chronic"])
    per_patient = dx.groupby("subject_id").agg(
        num_diagnosis_rows=("code_key", "size"),
        num_unique_icd_diagnoses=("code_key", "nunique"),
        num_rows_with_chronic_determination=("determined", "sum"),
    )
    chronic = dx.loc[dx["chronic_status"] == "chronic"].groupby("subject_id")["code_key"].nunique()
    per_patient["num_chronic_conditions"] = chronic.reindex(per_patient.index).fillna(0).astype("int64")

    conditions = pd.read_csv(CHARLSON_CONDITIONS, dtype={"condition": "str", "weight": "int64"})
    matched = _pandas_charlson_matches(codes[["icd_version", "icd_code"]])
    patient_conditions = (
        dx[["subject_id", "icd_version", "icd_code"]]
        .drop_duplicates()
        .merge(matched, on=["icd_version", "icd_code"])[["subject_id", "condition"]]
        .drop_duplicates()
        .merge(conditions[["condition", "weight", "hierarchy_group"]], on="condition")
    )
    points = patient_conditions.groupby(["subject_id", "hierarchy_group"])["weight"].max()
    per_patient["charlson_condition_score"] = points.groupby(level="subject_id").sum()
    per_patient["num_charlson_conditions"] = patient_conditions.groupby("subject_id").size()
    return per_patient


def pandas_features(release_dir: Path, last_data_year: int) -> pd.DataFrame:
    variables = project_vars()
    read = _readers(release_dir)
    diagnosis_rows = read["diagnoses"]()
    planned = _planned_principal_admissions(diagnosis_rows)
    diagnosis_rows = diagnosis_rows.drop(columns="seq_num")
    diagnoses = _pandas_diagnoses(diagnosis_rows)
    del diagnosis_rows
    admissions = _pandas_admissions(
        read["admissions"](), planned, variables, release_dir / "hosp" / "admissions.csv.gz"
    )
    ed_visits = _pandas_ed_visits(read["ed_rows"]())
    icustays = read["icustays"]()
    icu_days = icustays["los"].fillna((icustays["outtime"] - icustays["intime"]).dt.total_seconds() / 86400.0)
    per_icu = (
        icustays.assign(icu_days=icu_days)
        .groupby("subject_id")
        .agg(icu_stay_count=("icu_days", "size"), total_icu_days=("icu_days", "sum"))
    )

    df = read["patients"]().merge(admissions, on="subject_id", how="left")
    df = df.merge(diagnoses, on="subject_id", how="left").merge(per_icu, on="subject_id", how="left")
    df = df.merge(ed_visits, on="subject_id", how="left")
    counts = (
        "num_admissions",
        "num_inpatient_stays",
        "num_observation_stays",
        "num_unique_icd_diagnoses",
        "num_chronic_conditions",
        "num_charlson_conditions",
        "charlson_condition_score",
        "early_readmissions",
        "readmission_index_stays",
        "index_stays_early_readmitted",
        "emergency_admissions",
        "num_ed_visits",
        "num_ed_visits_without_admission",
        "max_ed_visits_in_365_days",
        "hospital_deaths",
        "icu_stay_count",
    )
    for column in counts:
        df[column] = df[column].fillna(0).astype("int64")
    for column in ("total_length_of_stay_days", "avg_length_of_stay_days", "total_icu_days"):
        df[column] = df[column].fillna(0.0)

    gender = df["gender"].fillna("").str.strip().str.upper()
    df["gender"] = gender.where(gender.isin(["F", "M"]), "Unknown")
    group = df["anchor_year_group"].fillna("").str.strip()
    df["anchor_year_group"] = group.where(group != "", "Unknown")
    group_start = pd.to_numeric(group.str.split("-").str[0].str.strip(), errors="coerce")
    midpoint_shift = df["anchor_year"] - (group_start + 1)
    minimum_shift = df["last_admit_year"] - last_data_year
    shift = midpoint_shift.where(~(minimum_shift > midpoint_shift), minimum_shift)
    as_of_year = (last_data_year + shift).astype("Int64")
    df["estimated_as_of_date"] = pd.to_datetime(
        as_of_year.astype("str") + "-12-31", format="%Y-%m-%d", errors="coerce"
    )
    df["days_since_last_admission"] = (
        df["estimated_as_of_date"] - df["last_admitted_at"].dt.normalize()
    ).dt.days.astype("Int64")
    df["days_since_last_ed_visit"] = (
        df["estimated_as_of_date"] - df["last_ed_arrived_at"].dt.normalize()
    ).dt.days.astype("Int64")
    df["age_at_last_admission"] = (df["anchor_age"] + df["last_admit_year"] - df["anchor_year"]).astype(
        "Int64"
    )
    age = df["age_at_last_admission"]
    df["charlson_comorbidity_index"] = df["charlson_condition_score"] + _charlson_age_points(age)
    df["has_chronic_condition"] = df["num_chronic_conditions"] > 0
    df["chronic_determination_coverage"] = (
        df["num_rows_with_chronic_determination"] / df["num_diagnosis_rows"]
    )
    df["readmission_rate"] = df["index_stays_early_readmitted"] / df["readmission_index_stays"].replace(
        0, np.nan
    )
    df["emergency_admission_share"] = (
        df["emergency_admissions"] / df["num_admissions"].replace(0, np.nan)
    ).fillna(0.0)
    df["in_hospital_death"] = df["hospital_deaths"] > 0
    days_to_death = (df["dod"] - df["last_discharged_at"].dt.normalize()).dt.days
    died_within = days_to_death.between(0, 365).fillna(False)
    df["died_within_1y_of_last_discharge"] = died_within.astype("boolean").where(
        df["last_discharged_at"].notna()
    )
    df["is_known_deceased"] = df["dod"].notna() | (df["hospital_deaths"] > 0)
    df["age_bucket"] = np.select(
        [age.isna().to_numpy(), (age < 45).fillna(False), (age < 65).fillna(False), (age < 80).fillna(False)],
        ["Unknown", "18-44", "45-64", "65-79"],
        default="80+",
    )
    return df.loc[:, list(FEATURE_COLUMNS)]


# --------------------------------------------------------------------------------------------
# (c) one DuckDB query
# --------------------------------------------------------------------------------------------


def _read(path: Path, columns: str) -> str:
    """A CSV file, every column typed explicitly (MIMIC tables as the generator declares them)."""
    return f"read_csv('{path}', header = true, auto_detect = false, columns = {columns})"


def _seed_column_types(name: str) -> dict[str, str]:
    """The column types a seed declares, where dbt reads them: its YAML's ``config`` in
    seeds/_*.yml, or ``+column_types`` under ``seeds:`` in dbt_project.yml."""
    for path in sorted((REPO_ROOT / "seeds").glob("_*.yml")):
        for seed in (yaml.safe_load(path.read_text()) or {}).get("seeds") or []:
            declared = (seed.get("config") or {}).get("column_types")
            if seed.get("name") == name and declared:
                return dict(declared)
    pending = [yaml.safe_load((REPO_ROOT / "dbt_project.yml").read_text()).get("seeds") or {}]
    while pending:
        node = pending.pop()
        if isinstance(node.get(name), dict) and "+column_types" in node[name]:
            return dict(node[name]["+column_types"])
        pending.extend(value for value in node.values() if isinstance(value, dict))
    raise ValueError(f"seed {name} declares no column types (seeds/_*.yml or dbt_project.yml)")


def _seed(path: Path) -> str:
    """A seed's CSV, each column typed as dbt types it (an undeclared one as text), in the
    order of the file's header. Not sniffed: sniffed reads made DuckDB plan the query
    differently, with a gigabyte more memory at 364,627 patients."""
    declared = _seed_column_types(path.stem)
    with path.open(newline="") as handle:
        header = next(csv.reader(handle))
    columns = ", ".join(f"'{column}': '{declared.get(column, 'varchar')}'" for column in header)
    return _read(path, f"{{{columns}}}")


def _runs(source: str, order: str, end: str, continues: str, run: str) -> str:
    """``source`` with ``run``, each patient's rows (in ``order``) numbered into runs: a row
    for which ``continues`` holds, ``{prior}`` standing for the latest ``end`` of the patient's
    earlier rows, is in the run of the row before it; any other row opens the next run."""
    earlier = "rows between unbounded preceding and 1 preceding"
    prior = f"max({end}) over (partition by subject_id order by {order} {earlier})"
    return f"""select *, sum(case when continues then 0 else 1 end) over (
        partition by subject_id order by {order} rows unbounded preceding) as {run}
    from (select *, coalesce({continues.format(prior=prior)}, false) as continues from {source})"""


def duckdb_features_sql(release_dir: Path, last_data_year: int) -> str:
    def release(module: str, table: str) -> str:
        return _read(release_dir / module / f"{table}.csv.gz", MIMIC_COLUMNS[table])

    variables = project_vars()
    window_days = variables.readmission_window_days
    inpatient_only = variables.readmission_definition == "inpatient"
    # 'inpatient': inpatient stays count and a planned principal diagnosis is set aside;
    # 'all_stays': every stay counts and none is planned
    counted = "t.is_inpatient" if inpatient_only else "true"
    planned = "p.hadm_id is not null" if inpatient_only else "false"
    unclassified = (
        "'admission_type ''' || coalesce(a.admission_type, '') || ''' in "
        f"{release_dir / 'hosp' / 'admissions.csv.gz'} (column admission_type) is not in "
        f"{ADMISSION_TYPE_CLASSES.relative_to(REPO_ROOT)}:"
        " add a row for it with its encounter_class'"
    )
    continues_episode = f"date_diff('second', {{prior}}, admittime) <= {variables.episode_max_gap_seconds}"
    return f"""
with
admission_types as (
    select c.admission_type, e.is_inpatient, e.is_emergency
    from {_seed(ADMISSION_TYPE_CLASSES)} c
    join {_seed(ENCOUNTER_CLASSES)} e using (encounter_class)
),
diagnoses as (
    select subject_id, hadm_id, seq_num, icd_version, upper(trim(icd_code)) as icd_code
    from {release("hosp", "diagnoses_icd")}
),
planned_admissions as (
    -- the principal diagnosis (seq_num 1) is an always-planned one
    select distinct d.hadm_id
    from diagnoses d
    join {_seed(PLANNED_READMISSION_DIAGNOSES)} p using (icd_version, icd_code)
    where d.seq_num = 1
),
admissions as (
    select
        a.subject_id, a.hadm_id, a.admittime, a.dischtime,
        a.hospital_expire_flag = 1 as died,
        -- an admission_type the seed does not classify stops the query, naming it
        coalesce(t.is_inpatient, error({unclassified})) as is_inpatient,
        t.is_emergency,
        {counted} as counted,
        {planned} as planned,
        epoch(a.dischtime - a.admittime) / 86400.0 as los_days
    from (
        select *, upper(trim(admission_type)) as admission_type
        from {release("hosp", "admissions")}
    ) a
    left join admission_types t using (admission_type)
    left join planned_admissions p using (hadm_id)
),
numbered as (
    -- a stay that starts before, or within the gap after, the latest discharge of the
    -- patient's earlier stays continues their hospital episode
    {_runs("admissions", "admittime, hadm_id", "dischtime", continues_episode, "episode")}
),
episodes as (
    select subject_id, episode, min(admittime) as episode_admit, max(dischtime) as episode_discharge,
        bool_or(died) as episode_died,
        -- a readmission is planned by its first counted stay
        coalesce(arg_min(planned, {{'at': admittime, 'id': hadm_id}}) filter (where counted), false)
            as episode_planned
    from numbered
    group by subject_id, episode
    having bool_or(counted)
),
episode_gaps as (
    -- each counted episode beside the patient's previous counted one
    select *,
        date_diff('day', cast(lag(episode_discharge) over w as date), cast(episode_admit as date))
            as gap_days,
        lag(episode_died) over w as previous_died
    from episodes
    window w as (partition by subject_id order by episode)
),
episode_readmissions as (
    select *,
        coalesce(not previous_died and not episode_planned and gap_days <= {window_days}, false) as readmit
    from episode_gaps
),
episode_flags as (
    select *, coalesce(lead(readmit) over (partition by subject_id order by episode), false) as next_readmit
    from episode_readmissions
),
retention_features as (
    select
        subject_id,
        sum(readmit::int) as early_readmissions,
        sum((not episode_died)::int) as readmission_index_stays,
        sum((not episode_died and next_readmit)::int) as index_stays_early_readmitted,
        median(gap_days) as median_days_between_admissions
    from episode_flags
    group by subject_id
),
admission_features as (
    select
        subject_id,
        count(*) as num_admissions,
        count(*) filter (where is_inpatient) as num_inpatient_stays,
        count(*) filter (where not is_inpatient) as num_observation_stays,
        sum(los_days) as total_los,
        avg(los_days) as avg_los,
        max(admittime) as last_admitted_at,
        max(dischtime) as last_discharged_at,
        max(year(admittime)) as last_admit_year,
        sum(is_emergency::int) as emergency_admissions,
        sum(died::int) as hospital_deaths
    from admissions
    group by subject_id
),
ed_rows as (
    select subject_id, hadm_id, transfer_id, intime, coalesce(outtime, intime) as outtime
    from {release("hosp", "transfers")}
    where lower(trim(eventtype)) = 'ed'
),
ed_numbered as (
    -- rows of a patient that meet or overlap are one visit
    {_runs("ed_rows", "intime, transfer_id", "outtime", "intime <= {prior}", "visit")}
),
ed_visits as (
    select subject_id, visit, min(intime) as arrived, max(hadm_id) is not null as led_to_admission
    from ed_numbered
    group by subject_id, visit
),
ed_windows as (
    -- the visits arriving in [arrival, arrival + 365 days), in microseconds
    select *, count(*) over (
        partition by subject_id order by epoch_us(arrived)
        range between current row and {ED_WINDOW_SECONDS * 1_000_000 - 1} following
    ) as visits_in_365_days
    from ed_visits
),
ed_features as (
    select
        subject_id,
        count(*) as num_ed_visits,
        count(*) filter (where not led_to_admission) as num_ed_visits_without_admission,
        max(arrived) as last_ed_arrived_at,
        max(visits_in_365_days) as max_ed_visits_in_365_days
    from ed_windows
    group by subject_id
),
codes as (
    select distinct d.icd_version, d.icd_code, h.chronic_status
    from diagnoses d
    left join {_seed(HCUP_INDICATORS)} h
        using (icd_version, icd_code)
),
charlson_matches as (
    select distinct c.icd_version, c.icd_code, r.condition
    from codes c
    join {_seed(CHARLSON_CODES)} r
        on c.icd_version = r.icd_version
        and (
            (r.match_type = 'prefix' and starts_with(c.icd_code, r.code_from))
            or (r.match_type = 'range'
                and substr(c.icd_code, 1, length(r.code_from)) between r.code_from and r.code_to)
        )
),
diagnosis_features as (
    select
        d.subject_id,
        count(*) as num_diagnosis_rows,
        count(distinct d.icd_version::varchar || ':' || d.icd_code) as num_unique_icd_diagnoses,
        count(distinct case when c.chronic_status = 'chronic'
            then d.icd_version::varchar || ':' || d.icd_code end)
            as num_chronic_conditions,
        sum(case when c.chronic_status in ('chronic', 'not_chronic') then 1 else 0 end)
            as num_rows_with_chronic_determination
    from diagnoses d
    left join codes c on d.icd_version = c.icd_version and d.icd_code = c.icd_code
    group by d.subject_id
),
patient_conditions as (
    select distinct d.subject_id, m.condition, k.weight, k.hierarchy_group
    from diagnoses d
    join charlson_matches m using (icd_version, icd_code)
    join {_seed(CHARLSON_CONDITIONS)} k using (condition)
),
charlson_features as (
    -- the heaviest condition of each hierarchy group counts (e.g. metastatic over any malignancy)
    select subject_id, sum(conditions) as num_charlson_conditions, sum(points) as charlson_condition_score
    from (
        select subject_id, hierarchy_group, max(weight) as points, count(*) as conditions
        from patient_conditions
        group by subject_id, hierarchy_group
    ) as group_points
    group by subject_id
),
icu_features as (
    select subject_id, count(*) as icu_stay_count,
        sum(coalesce(los, epoch(outtime - intime) / 86400.0)) as total_icu_days
    from {release("icu", "icustays")}
    group by subject_id
),
patients as (
    select
        subject_id,
        case upper(trim(gender)) when 'F' then 'F' when 'M' then 'M' else 'Unknown' end as gender,
        anchor_age,
        anchor_year,
        coalesce(nullif(trim(anchor_year_group), ''), 'Unknown') as anchor_year_group,
        try_cast(trim(split_part(anchor_year_group, '-', 1)) as integer) as group_start,
        dod
    from {release("hosp", "patients")}
),
joined as (
    select
        p.*,
        a.* exclude (subject_id),
        r.* exclude (subject_id),
        e.* exclude (subject_id),
        d.* exclude (subject_id),
        c.* exclude (subject_id),
        i.* exclude (subject_id),
        -- the as-of estimate of int_patients_as_of_estimated: the midpoint of the anchor
        -- group, or the smallest shift the last admission allows if that is larger
        case
            when a.last_admit_year - {last_data_year} > p.anchor_year - (p.group_start + 1)
                then a.last_admit_year - {last_data_year}
            else p.anchor_year - (p.group_start + 1)
        end as year_shift,
        p.anchor_age + a.last_admit_year - p.anchor_year as age_at_last_admission
    from patients p
    left join admission_features a using (subject_id)
    left join retention_features r using (subject_id)
    left join ed_features e using (subject_id)
    left join diagnosis_features d using (subject_id)
    left join charlson_features c using (subject_id)
    left join icu_features i using (subject_id)
)
select
    subject_id,
    coalesce(num_admissions, 0) as num_admissions,
    coalesce(num_inpatient_stays, 0) as num_inpatient_stays,
    coalesce(num_observation_stays, 0) as num_observation_stays,
    coalesce(avg_los, 0) as avg_length_of_stay_days,
    coalesce(total_los, 0) as total_length_of_stay_days,
    date_diff('day', cast(last_admitted_at as date), make_date({last_data_year} + year_shift, 12, 31))
        as days_since_last_admission,
    coalesce(emergency_admissions / nullif(num_admissions, 0), 0) as emergency_admission_share,
    coalesce(num_ed_visits, 0) as num_ed_visits,
    coalesce(num_ed_visits_without_admission, 0) as num_ed_visits_without_admission,
    coalesce(max_ed_visits_in_365_days, 0) as max_ed_visits_in_365_days,
    date_diff('day', cast(last_ed_arrived_at as date), make_date({last_data_year} + year_shift, 12, 31))
        as days_since_last_ed_visit,
    coalesce(early_readmissions, 0) as early_readmissions,
    coalesce(readmission_index_stays, 0) as readmission_index_stays,
    index_stays_early_readmitted / nullif(readmission_index_stays, 0) as readmission_rate,
    median_days_between_admissions,
    coalesce(num_unique_icd_diagnoses, 0) as num_unique_icd_diagnoses,
    coalesce(charlson_condition_score, 0) + case
        when age_at_last_admission is null then null
        when age_at_last_admission < 50 then 0
        when age_at_last_admission < 60 then 1
        when age_at_last_admission < 70 then 2
        when age_at_last_admission < 80 then 3
        else 4
    end as charlson_comorbidity_index,
    coalesce(charlson_condition_score, 0) as charlson_condition_score,
    coalesce(num_charlson_conditions, 0) as num_charlson_conditions,
    coalesce(num_chronic_conditions, 0) as num_chronic_conditions,
    coalesce(num_chronic_conditions, 0) > 0 as has_chronic_condition,
    num_rows_with_chronic_determination / nullif(num_diagnosis_rows, 0) as chronic_determination_coverage,
    coalesce(icu_stay_count, 0) as icu_stay_count,
    coalesce(total_icu_days, 0) as total_icu_days,
    coalesce(hospital_deaths, 0) > 0 as in_hospital_death,
    case
        when last_discharged_at is null then null
        else coalesce(date_diff('day', cast(last_discharged_at as date), dod) between 0 and 365, false)
    end as died_within_1y_of_last_discharge,
    dod is not null or coalesce(hospital_deaths, 0) > 0 as is_known_deceased,
    gender,
    age_at_last_admission,
    case
        when age_at_last_admission is null then 'Unknown'
        when age_at_last_admission < 45 then '18-44'
        when age_at_last_admission < 65 then '45-64'
        when age_at_last_admission < 80 then '65-79'
        else '80+'
    end as age_bucket,
    anchor_year_group,
    make_date({last_data_year} + year_shift, 12, 31) as estimated_as_of_date
from joined
"""


# The DuckDB memory limit the dbt profile reads (profiles.yml): (c) runs under the same one.
MEMORY_LIMIT_ENV = "MIMIC_SEGMENTS_DUCKDB_MEMORY_LIMIT"
# Where (c) spills when it passes the limit (an in-memory database's default is ./.tmp).
TEMP_DIRECTORY_ENV = "MIMIC_SEGMENTS_BENCH_DUCKDB_TEMP_DIR"


def duckdb_features(release_dir: Path, last_data_year: int) -> pd.DataFrame:
    settings = {"memory_limit": MEMORY_LIMIT_ENV, "temp_directory": TEMP_DIRECTORY_ENV}
    config = {name: os.environ[env] for name, env in settings.items() if os.environ.get(env)}
    with duckdb.connect(config=config) as con:
        con.execute("set enable_progress_bar = false")
        return con.execute(duckdb_features_sql(release_dir, last_data_year)).df()


APPROACHES: dict[str, Callable[[Path, int], pd.DataFrame]] = {
    "pandas": pandas_features,
    "duckdb": duckdb_features,
}


def run(approach: str, release_dir: Path, last_data_year: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Features, then the same fit as the dbt model ``segment_centroids``.

    Same population (patients with at least ``clustering_population_min_admissions``
    admissions; the others are not clustered), inputs (``cluster_features``, ``log1p`` on
    ``cluster_log1p_features``), k, seed and initialisations, and like it single-threaded
    (sklearn's result does not depend on threads).
    """
    features = APPROACHES[approach](release_dir, last_data_year)
    variables = project_vars()
    lacking = [f for f in variables.cluster_features if f not in features.columns]
    if lacking:
        raise SystemExit(
            f"the feature catalogue clusters {lacking}, which the {approach} approach does not compute: "
            "add it to FEATURE_COLUMNS and to both approaches in bench/approaches.py"
        )
    admitted = features[features["num_admissions"] >= variables.clustering_population_min_admissions]
    with threadpool_limits(limits=1):
        result = fit_segments(
            admitted,
            variables.cluster_features,
            k=variables.cluster_k,
            random_state=variables.cluster_random_state,
            n_init=N_INIT,
            log1p_features=variables.cluster_log1p_features,
        )
    return features, result.assignments


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run one benchmark approach: features + K-Means.")
    parser.add_argument("approach", choices=sorted(APPROACHES))
    parser.add_argument("--release-dir", type=Path, required=True)
    parser.add_argument("--last-data-year", type=int, required=True)
    parser.add_argument("--features-out", type=Path, help="write features + cluster ids here (Parquet)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    features, assignments = run(args.approach, args.release_dir, args.last_data_year)
    if args.features_out is not None:
        out = features.merge(assignments[["subject_id", "cluster_id"]], on="subject_id", how="left")
        with duckdb.connect() as con:
            con.register("out_frame", out)
            con.execute(
                f"copy (select * from out_frame order by subject_id) to '{args.features_out}' "
                "(format parquet)"
            )
    print(f"{args.approach}: {len(features):,} patients in {time.perf_counter() - started:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
