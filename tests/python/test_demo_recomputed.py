"""The dbt build of the real demo against an independent recomputation from its raw files
(issue 28, item 8).

Every column of patient_features, for every patient, as the benchmark's pandas approach
(bench/approaches.py) computes it from the release's official files (MIMIC_DEMO_DIR, read in
place), clusters included; and the demo's facts of the hospital timeline on the built
intermediate tables (encounter classes, hospital episodes, counted episodes and early
readmissions, ED visits), each recomputed here from the raw files by a plain walk through each
patient's rows, and checked against the figures the docs quote.
"""

from __future__ import annotations

import sys
from collections import Counter
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import yaml
from conftest import REPO_ROOT, _demo_source_dir

pytestmark = pytest.mark.e2e

sys.path.insert(0, str(REPO_ROOT / "bench"))
import approaches  # noqa: E402
import run_benchmark  # noqa: E402

TIME = "%Y-%m-%d %H:%M:%S"


@pytest.fixture(scope="module")
def demo_dir() -> Path:
    source = _demo_source_dir()
    if source is None or not (source / "hosp" / "transfers.csv.gz").is_file():
        pytest.skip("no local copy of the MIMIC-IV demo release (MIMIC_DEMO_DIR)")
    return source


def project_var(name: str) -> object:
    return yaml.safe_load((REPO_ROOT / "dbt_project.yml").read_text())["vars"][name]


def test_every_feature_of_every_patient_agrees_with_the_pandas_recomputation(
    built: dict[str, str], demo_dir: Path
) -> None:
    """The demo build's patient_features and clusters, recomputed by bench/approaches.py."""
    reference = run_benchmark._dbt_features(Path(built["MIMIC_SEGMENTS_DEV_DB"]))
    features, assignments = approaches.run("pandas", demo_dir, int(project_var("mimic_last_data_year")))
    recomputed = features.merge(assignments[["subject_id", "cluster_id"]], on="subject_id", how="left")
    recomputed = recomputed.sort_values("subject_id", ignore_index=True)
    assert len(reference) == 100
    assert run_benchmark.compare_features(reference, recomputed, "pandas on the demo's files") == []


# --------------------------------------------------------------------------------------------
# The timeline's facts, by a plain walk through the raw files
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stay:
    subject_id: int
    hadm_id: int
    admitted: pd.Timestamp
    discharged: pd.Timestamp
    encounter_class: str
    inpatient: bool
    planned: bool
    died: bool


@dataclass
class Episode:
    subject_id: int
    stays: list[Stay]

    @property
    def counted(self) -> bool:
        return any(stay.inpatient for stay in self.stays)

    @property
    def planned(self) -> bool:
        return next(stay for stay in self.stays if stay.inpatient).planned

    @property
    def discharged(self) -> pd.Timestamp:
        return max(stay.discharged for stay in self.stays)

    @property
    def died(self) -> bool:
        return any(stay.died for stay in self.stays)


def _seed(*parts: str) -> pd.DataFrame:
    return pd.read_csv(REPO_ROOT.joinpath("seeds", *parts), dtype="str", keep_default_na=False)


@pytest.fixture(scope="module")
def stays(demo_dir: Path) -> list[Stay]:
    """Every admission of the demo with its class, from the raw file and the two seeds."""
    admissions = pd.read_csv(demo_dir / "hosp" / "admissions.csv.gz", dtype="str")
    diagnoses = pd.read_csv(demo_dir / "hosp" / "diagnoses_icd.csv.gz", dtype="str")
    classes = {
        row.admission_type: row.encounter_class
        for row in _seed("encounters", "admission_type_classes.csv").itertuples()
    }
    inpatient = {
        row.encounter_class: row.is_inpatient == "true"
        for row in _seed("encounters", "encounter_classes.csv").itertuples()
    }
    planned_codes = {
        (row.icd_version, row.icd_code)
        for row in _seed("readmissions", "planned_readmission_diagnoses.csv").itertuples()
    }
    principal = diagnoses[diagnoses["seq_num"] == "1"]
    planned = {
        row.hadm_id for row in principal.itertuples() if (row.icd_version, row.icd_code) in planned_codes
    }
    return [
        Stay(
            subject_id=int(row.subject_id),
            hadm_id=int(row.hadm_id),
            admitted=pd.Timestamp(row.admittime),
            discharged=pd.Timestamp(row.dischtime),
            encounter_class=classes[row.admission_type],
            inpatient=inpatient[classes[row.admission_type]],
            planned=row.hadm_id in planned,
            died=row.hospital_expire_flag == "1",
        )
        for row in admissions.itertuples()
    ]


def walk_episodes(stays: list[Stay], max_gap_hours: float) -> tuple[list[Episode], list[Stay]]:
    """Each patient's stays in order of start: a stay that starts by the latest discharge so
    far plus the gap continues the episode. Returns the episodes and the continuing stays."""
    episodes: list[Episode] = []
    continuing: list[Stay] = []
    latest: dict[int, pd.Timestamp] = {}
    gap = pd.Timedelta(hours=max_gap_hours)
    for stay in sorted(stays, key=lambda s: (s.subject_id, s.admitted, s.hadm_id)):
        if stay.subject_id in latest and stay.admitted <= latest[stay.subject_id] + gap:
            episodes[-1].stays.append(stay)
            continuing.append(stay)
        else:
            episodes.append(Episode(stay.subject_id, [stay]))
        latest[stay.subject_id] = max(latest.get(stay.subject_id, stay.discharged), stay.discharged)
    return episodes, continuing


def test_encounter_classes(db: duckdb.DuckDBPyConnection, stays: list[Stay]) -> None:
    expected = Counter(stay.encounter_class for stay in stays)
    assert expected == {
        "emergency_inpatient": 164,
        "urgent_inpatient": 38,
        "elective_inpatient": 13,
        "same_day_surgery": 18,
        "observation": 42,
    }
    built = db.execute(
        "select encounter_class, count(*) from intermediate.int_admissions_classified group by 1"
    ).fetchall()
    assert dict(built) == expected


def test_hospital_episodes(db: duckdb.DuckDBPyConnection, stays: list[Stay]) -> None:
    """275 stays in 272 episodes under the 6-hour rule: the three continuing stays are all of
    patient 10002930. With a gap of 0 only the stay admitted in the minute of a discharge joins."""
    episodes, continuing = walk_episodes(stays, float(project_var("episode_max_gap_hours")))
    assert (len(stays), len(episodes)) == (275, 272)
    assert [stay.subject_id for stay in continuing] == [10002930] * 3
    assert [stay.subject_id for stay in walk_episodes(stays, 0)[1]] == [10002930]
    built_episodes, built_continuing = db.execute(
        "select count(distinct (subject_id, episode_number)), list(hadm_id order by hadm_id)"
        " filter (where continues_previous_stay) from intermediate.int_admissions_grouped_to_episodes"
    ).fetchone()
    assert built_episodes == len(episodes)
    assert built_continuing == sorted(stay.hadm_id for stay in continuing)


def test_counted_episodes_and_early_readmissions(db: duckdb.DuckDBPyConnection, stays: list[Stay]) -> None:
    """Under readmission_definition 'inpatient': 232 counted episodes, 44 early readmissions,
    and 2 more within 30 days that are planned (docs block readmission_definition)."""
    assert project_var("readmission_definition") == "inpatient"
    window = int(project_var("readmission_window_days"))
    episodes, _ = walk_episodes(stays, float(project_var("episode_max_gap_hours")))
    counted = [episode for episode in episodes if episode.counted]
    early, planned_within_window = [], []
    for previous, episode in pairwise(counted):
        if previous.subject_id != episode.subject_id or previous.died:
            continue
        days = (episode.stays[0].admitted.normalize() - previous.discharged.normalize()).days
        if days <= window:
            (planned_within_window if episode.planned else early).append(episode)
    assert (len(counted), len(early), len(planned_within_window)) == (232, 44, 2)
    built = db.execute(
        "select count(*) filter (where is_counted_episode), count(*) filter (where is_early_readmission),"
        f" count(*) filter (where is_planned_episode and days_since_previous_discharge <= {window})"
        " from intermediate.int_episodes_flagged_for_readmission"
    ).fetchone()
    assert built == (len(counted), len(early), len(planned_within_window))


def test_ed_visits(db: duckdb.DuckDBPyConnection, demo_dir: Path) -> None:
    """236 ED rows in transfers are 235 visits (one visit is split over two rows that meet);
    54 led to no admission, over 26 patients."""
    transfers = pd.read_csv(
        demo_dir / "hosp" / "transfers.csv.gz",
        dtype={"subject_id": "int64", "hadm_id": "float64", "transfer_id": "int64", "eventtype": "str"},
        parse_dates=["intime", "outtime"],
        date_format=TIME,
    )
    ed_rows = transfers[transfers["eventtype"] == "ED"].sort_values(["subject_id", "intime", "transfer_id"])
    visits: list[dict[str, object]] = []
    latest_left: dict[int, pd.Timestamp] = {}
    for row in ed_rows.itertuples():
        admitted = not pd.isna(row.hadm_id)
        if row.subject_id in latest_left and row.intime <= latest_left[row.subject_id]:
            visits[-1]["admitted"] = visits[-1]["admitted"] or admitted
        else:
            visits.append({"subject_id": row.subject_id, "arrived": row.intime, "admitted": admitted})
        latest_left[row.subject_id] = max(latest_left.get(row.subject_id, row.outtime), row.outtime)
    without = [visit for visit in visits if not visit["admitted"]]
    assert (len(ed_rows), len(visits), len(without)) == (236, 235, 54)
    assert len({visit["subject_id"] for visit in without}) == 26
    built = db.execute(
        "select subject_id, ed_arrived_at, led_to_admission"
        " from intermediate.int_transfers_grouped_to_ed_visits order by subject_id, ed_arrived_at"
    ).fetchall()
    assert built == [(v["subject_id"], v["arrived"].to_pydatetime(), v["admitted"]) for v in visits]
