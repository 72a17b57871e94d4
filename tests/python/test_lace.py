"""LACE per index discharge (marts.readmission_risk_scores) against a recomputation from the raw demo.

The demo's own files (MIMIC_DEMO_DIR: hosp/admissions, patients, transfers, diagnoses_icd as
csv.gz) are read with pandas, and everything LACE rests on is rebuilt here with the
documented rules, independently of the SQL: the encounter classes of docs block
encounter_classes, the 6-hour episode rule (hospital_episode) and CMS's inpatient definition,
ED visits merged from transfers rows (ed_visits_from_transfers), LACE's points, its Charlson
weights and hierarchy (lace_comorbidity) and its bands. Only the Quan et al. ICD code lists
are shared with the build (seeds/charlson/charlson_icd_codes.csv): they are data, tested on
their own by the Charlson models. Every row and every component must agree.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest

pytestmark = pytest.mark.e2e

REPO_ROOT = Path(__file__).resolve().parents[2]
RELEASE_DIR = Path(os.environ.get("MIMIC_DEMO_DIR") or REPO_ROOT.parent / "shared" / "mimic-iv-demo" / "2.2")

# docs block encounter_classes: the class of each MIMIC-IV admission_type
ENCOUNTER_CLASS = {
    "EW EMER.": "emergency_inpatient",
    "DIRECT EMER.": "emergency_inpatient",
    "OBSERVATION ADMIT": "emergency_inpatient",
    "URGENT": "urgent_inpatient",
    "ELECTIVE": "elective_inpatient",
    "SURGICAL SAME DAY ADMISSION": "same_day_surgery",
    "EU OBSERVATION": "observation",
    "DIRECT OBSERVATION": "observation",
    "AMBULATORY OBSERVATION": "observation",
}
ACUTE_CLASSES = {"emergency_inpatient", "urgent_inpatient"}  # docs block lace_acute_admission
EPISODE_MAX_GAP = pd.Timedelta(hours=6)  # var episode_max_gap_hours, default
ED_RECORDS_FIRST_YEAR = 2011  # MIMIC-IV-ED covers 2011-2019

# van Walraven et al., CMAJ 2010: LACE's Charlson weights on the Quan conditions (0: not counted)
LACE_WEIGHTS = {
    "myocardial_infarction": 1,
    "cerebrovascular_disease": 1,
    "peripheral_vascular_disease": 1,
    "diabetes_without_chronic_complication": 1,
    "congestive_heart_failure": 2,
    "diabetes_with_chronic_complication": 2,
    "chronic_pulmonary_disease": 2,
    "mild_liver_disease": 2,
    "any_malignancy": 2,
    "dementia": 3,
    "rheumatic_disease": 3,
    "aids_hiv": 4,
    "moderate_or_severe_liver_disease": 4,
    "metastatic_solid_tumor": 6,
    "peptic_ulcer_disease": 0,
    "hemiplegia_or_paraplegia": 0,
    "renal_disease": 0,
}
# the Charlson hierarchy: only the heaviest condition of a graded group counts
HIERARCHY = {
    "mild_liver_disease": "liver",
    "moderate_or_severe_liver_disease": "liver",
    "diabetes_without_chronic_complication": "diabetes",
    "diabetes_with_chronic_complication": "diabetes",
    "any_malignancy": "malignancy",
    "metastatic_solid_tumor": "malignancy",
}

COMPARED = [
    "closing_hadm_id",
    "admitted_at",
    "discharged_at",
    "num_stays",
    "length_of_stay_days",
    "lace_length_of_stay_points",
    "admission_encounter_class",
    "is_acute_admission",
    "lace_acuity_points",
    "num_charlson_conditions",
    "lace_charlson_score",
    "lace_comorbidity_points",
    "num_ed_visits_in_6_months_before",
    "lace_ed_visit_points",
    "is_ed_history_possibly_incomplete",
    "lace_score",
    "lace_risk_band",
    "is_last_index_discharge",
]


def read_table(name: str, **kwargs: Any) -> pd.DataFrame:
    path = RELEASE_DIR / "hosp" / f"{name}.csv.gz"
    if not path.is_file():
        pytest.skip(f"no local copy of the MIMIC-IV demo release ({path}); set MIMIC_DEMO_DIR")
    return pd.read_csv(path, **kwargs)


def episodes_of(admissions: pd.DataFrame) -> pd.DataFrame:
    """Admissions with their episode number: a stay that starts within the gap of the latest
    earlier discharge of the patient (or before it) continues that episode."""
    stays = admissions.sort_values(["subject_id", "admittime", "hadm_id"]).copy()
    numbers: list[int] = []
    for _, patient in stays.groupby("subject_id", sort=False):
        latest: pd.Timestamp | None = None
        episode = 0
        for admitted, discharged in zip(patient["admittime"], patient["dischtime"], strict=True):
            if latest is None or admitted > latest + EPISODE_MAX_GAP:
                episode += 1
            latest = discharged if latest is None else max(latest, discharged)
            numbers.append(episode)
    stays["episode_number"] = numbers
    return stays


def ed_visits_of(transfers: pd.DataFrame) -> pd.DataFrame:
    """ED visits: the `ED` rows of a patient that meet or overlap are one visit."""
    rows = transfers[transfers["eventtype"].str.upper() == "ED"].copy()
    rows["outtime"] = rows["outtime"].fillna(rows["intime"])
    rows = rows.sort_values(["subject_id", "intime", "transfer_id"])
    visits: list[dict[str, object]] = []
    for subject, patient in rows.groupby("subject_id", sort=False):
        departed = None
        for row in patient.itertuples():
            if departed is not None and row.intime <= departed:
                departed = max(departed, row.outtime)
                if pd.notna(row.hadm_id):
                    visits[-1]["hadm_id"] = row.hadm_id
                continue
            departed = row.outtime
            hadm_id = row.hadm_id if pd.notna(row.hadm_id) else None
            visits.append({"subject_id": subject, "arrived": row.intime, "hadm_id": hadm_id})
    return pd.DataFrame(visits)


def charlson_conditions_of(diagnoses: pd.DataFrame) -> pd.DataFrame:
    """(hadm_id, condition) for every Quan condition a diagnosis code matches."""
    rules = pd.read_csv(REPO_ROOT / "seeds" / "charlson" / "charlson_icd_codes.csv", dtype=str)
    codes = diagnoses[["icd_version", "icd_code"]].drop_duplicates()
    matched = []
    for rule in rules.itertuples():
        same_version = codes[codes["icd_version"] == int(rule.icd_version)]
        head = same_version["icd_code"].str[: len(rule.code_from)]
        if rule.match_type == "prefix":
            hit = head == rule.code_from
        else:
            hit = (head >= rule.code_from) & (head <= rule.code_to)
        matched.append(same_version[hit].assign(condition=rule.condition))
    conditions = pd.concat(matched).drop_duplicates()
    coded = diagnoses.merge(conditions, on=["icd_version", "icd_code"])
    return coded[["hadm_id", "condition"]].drop_duplicates()


def lace_charlson_score(conditions: set[str]) -> int:
    groups: dict[str, int] = {}
    for condition in conditions:
        group = HIERARCHY.get(condition, condition)
        groups[group] = max(groups.get(group, 0), LACE_WEIGHTS[condition])
    return sum(groups.values())


def length_of_stay_points(days: int) -> int:
    for upper, points in ((0, 0), (1, 1), (2, 2), (3, 3), (6, 4), (13, 5)):
        if days <= upper:
            return points
    return 7


def risk_band(score: int) -> str:
    return "low" if score <= 4 else "moderate" if score <= 9 else "high"


def recomputed_lace() -> pd.DataFrame:
    """LACE per index discharge of the demo, whole-history mode, default vars."""
    times = ["admittime", "dischtime"]
    admissions = read_table("admissions", parse_dates=times)
    patients = read_table("patients")
    transfers = read_table("transfers", parse_dates=["intime", "outtime"])
    diagnoses = read_table("diagnoses_icd", dtype={"icd_code": str})
    admissions["encounter_class"] = admissions["admission_type"].str.strip().str.upper().map(ENCOUNTER_CLASS)
    assert admissions["encounter_class"].notna().all()
    admissions["is_inpatient"] = admissions["encounter_class"] != "observation"
    stays = episodes_of(admissions)
    conditions = charlson_conditions_of(diagnoses)
    visits = ed_visits_of(transfers)
    visits = visits.merge(
        stays[["hadm_id", "episode_number"]].rename(columns={"episode_number": "led_to_episode"}),
        on="hadm_id",
        how="left",
    )
    anchors = patients.set_index("subject_id")
    rows = []
    for (subject, episode), group in stays.groupby(["subject_id", "episode_number"]):
        counted = group[group["is_inpatient"]]
        # an index discharge: a counted (inpatient) episode the patient left alive
        if counted.empty or (group["hospital_expire_flag"] == 1).any():
            continue
        admitted, discharged = group["admittime"].min(), group["dischtime"].max()
        closing = group.sort_values(["dischtime", "hadm_id"]).iloc[-1]
        opening = counted.sort_values(["admittime", "hadm_id"]).iloc[0]
        days = (discharged.normalize() - admitted.normalize()).days
        episode_conditions = set(conditions.loc[conditions["hadm_id"].isin(group["hadm_id"]), "condition"])
        charlson = lace_charlson_score(episode_conditions)
        look_back = admitted - pd.DateOffset(months=6)
        mine = visits[visits["subject_id"] == subject]
        ed = int(
            (
                (mine["arrived"] >= look_back)
                & (mine["arrived"] < admitted)
                & (mine["led_to_episode"] != episode)
            ).sum()
        )
        acute = opening["encounter_class"] in ACUTE_CLASSES
        points = (length_of_stay_points(days), 3 if acute else 0, charlson if charlson < 4 else 5, min(ed, 4))
        anchor = anchors.loc[subject]
        rows.append(
            {
                "subject_id": subject,
                "episode_number": episode,
                "closing_hadm_id": closing["hadm_id"],
                "admitted_at": admitted,
                "discharged_at": discharged,
                "num_stays": len(group),
                "length_of_stay_days": days,
                "lace_length_of_stay_points": points[0],
                "admission_encounter_class": opening["encounter_class"],
                "is_acute_admission": acute,
                "lace_acuity_points": points[1],
                "num_charlson_conditions": len(episode_conditions),
                "lace_charlson_score": charlson,
                "lace_comorbidity_points": points[2],
                "num_ed_visits_in_6_months_before": ed,
                "lace_ed_visit_points": points[3],
                "is_ed_history_possibly_incomplete": int(anchor["anchor_year_group"][:4])
                + look_back.year
                - anchor["anchor_year"]
                < ED_RECORDS_FIRST_YEAR,
                "lace_score": sum(points),
                "lace_risk_band": risk_band(sum(points)),
            }
        )
    lace = pd.DataFrame(rows)
    last = lace.sort_values(["discharged_at", "episode_number"]).groupby("subject_id").tail(1)
    lace["is_last_index_discharge"] = lace.index.isin(last.index)
    return lace.sort_values(["subject_id", "episode_number"]).reset_index(drop=True)


@pytest.fixture(scope="module")
def recomputed() -> pd.DataFrame:
    return recomputed_lace()


def test_lace_matches_a_recomputation_from_the_raw_demo(
    db: duckdb.DuckDBPyConnection, recomputed: pd.DataFrame
) -> None:
    built = db.execute("select * from marts.readmission_risk_scores order by subject_id, episode_number").df()
    # every index discharge of the demo, and no other
    keys = ["subject_id", "episode_number"]
    assert built[keys].values.tolist() == recomputed[keys].values.tolist()
    # the demo's 275 stays form 272 episodes; 232 are inpatient, 217 of those left alive
    assert len(built) == 217
    mismatches = {
        column: int((built[column].astype(str) != recomputed[column].astype(str)).sum())
        for column in COMPARED
    }
    assert mismatches == dict.fromkeys(COMPARED, 0)


def test_every_component_takes_several_values_on_the_demo(recomputed: pd.DataFrame) -> None:
    """The comparison above exercises each rule: no component is constant on the demo."""
    for column, at_least in {
        "lace_length_of_stay_points": 5,
        "lace_acuity_points": 2,
        "lace_comorbidity_points": 4,
        "lace_ed_visit_points": 4,
        "lace_risk_band": 3,
        "is_ed_history_possibly_incomplete": 2,
    }.items():
        assert recomputed[column].nunique() >= at_least, column
    # and the hierarchy and LACE's own weights matter: they change some episodes' scores
    assert (recomputed["lace_charlson_score"] != recomputed["num_charlson_conditions"]).any()


def test_the_outreach_list_ranks_by_the_last_index_discharge(db: duckdb.DuckDBPyConnection) -> None:
    listed = db.execute(
        "select o.subject_id, o.lace_score, o.last_index_discharge_date, r.lace_score, r.discharge_date"
        " from marts.outreach_list o left join marts.readmission_risk_scores r"
        " on r.subject_id = o.subject_id and r.is_last_index_discharge"
    ).fetchall()
    assert listed, "the demo's outreach list is empty"
    assert all(row[1:3] == row[3:5] for row in listed)
