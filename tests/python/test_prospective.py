"""Point-in-time features, LACE scores and LACE at the index leak nothing.

The demo release and a generated 400-patient one are built in index mode (var feature_index:
first_year) from copies of their files, read in place (full-release mode), so that admissions
and ED visits can be added and changed.
Adding an admission and an ED visit after a patient's index, or changing an admission, must
change no column of patient_features, no LACE score (readmission_risk_scores) and no LACE
at the index (int_patients_followed_up_after_index, the prospective comparison's grouping)
for any patient; changing an admission before the index must change both (the control that shows the
test can fail). The outcomes of the year after the index, which are read from the whole
release, do see the added admission.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import shutil
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pytest
from conftest import _demo_source_dir, generated_release, rebuilt_on_a_copy, run_dbt
from statsmodels.stats.proportion import proportion_confint

pytestmark = pytest.mark.e2e

REPO_ROOT = Path(__file__).resolve().parents[2]
SELECT = [
    "--select",
    "+patient_features",
    "+readmission_risk_scores",
    "+int_patients_followed_up_after_index",
    "--indirect-selection",
    "cautious",
]
TIME = "%Y-%m-%d %H:%M:%S"
PATIENTS = 400

Row = dict[str, str]


def read_admissions(release: Path, table: str = "admissions") -> tuple[list[str], list[Row]]:
    with gzip.open(release / "hosp" / f"{table}.csv.gz", "rt", newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def write_admissions(release: Path, fields: list[str], rows: list[Row], table: str = "admissions") -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    with gzip.open(release / "hosp" / f"{table}.csv.gz", "wt", newline="") as handle:
        handle.write(buffer.getvalue())


def build(work: Path, name: str, release: Path, year: int) -> Path:
    """Index mode on ``release``, into its own database; returns the database."""
    database = work / f"{name}.duckdb"
    env = dict(os.environ)
    env.update(
        DBT_PROFILES_DIR=str(REPO_ROOT),
        MIMIC_SEGMENTS_DEV_DB=str(database),
        DBT_TARGET_PATH=str(work / f"target-{name}"),
        DBT_LOG_PATH=str(work / f"logs-{name}"),
        DBT_SEND_ANONYMOUS_USAGE_STATS="false",
    )
    variables = {
        "mimic_source_mode": "release",
        "mimic_release_dir": str(release),
        "mimic_last_data_year": year,
        "feature_index": "first_year",
    }
    run_dbt(env, "build", *SELECT, "--vars", json.dumps(variables))
    return database


def features(database: Path) -> dict[int, tuple[object, ...]]:
    with duckdb.connect(str(database), read_only=True) as connection:
        rows = connection.execute(
            "select * from segmentation.patient_features order by subject_id"
        ).fetchall()
    return {int(row[0]): tuple(row) for row in rows}


def lace_scores(database: Path) -> dict[tuple[int, int], tuple[object, ...]]:
    """Every LACE score the build holds, by (subject_id, episode_number)."""
    with duckdb.connect(str(database), read_only=True) as connection:
        rows = connection.execute("select * from marts.readmission_risk_scores").fetchall()
    return {(int(row[0]), int(row[1])): tuple(row) for row in rows}


def lace_at_index(database: Path) -> dict[int, tuple[object, ...]]:
    """LACE at the index of every followed-up patient (the prospective comparison's grouping)."""
    with duckdb.connect(str(database), read_only=True) as connection:
        rows = connection.execute(
            "select subject_id, lace_score_at_index, lace_risk_band_at_index"
            " from intermediate.int_patients_followed_up_after_index"
        ).fetchall()
    return {int(row[0]): tuple(row) for row in rows}


def query(database: Path, sql: str) -> list[tuple[object, ...]]:
    with duckdb.connect(str(database), read_only=True) as connection:
        return connection.execute(sql).fetchall()


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("prospective")


@pytest.fixture(scope="module", params=["demo", "generated"])
def release(request: pytest.FixtureRequest, work: Path) -> Path:
    """The demo release (100 patients), and a generated 3.1-shaped one (400 patients)."""
    copy = work / f"release-{request.param}"
    if request.param == "generated":
        return generated_release(copy, PATIENTS, seed=16)
    source = _demo_source_dir()
    if source is None or not (source / "hosp" / "admissions.csv.gz").is_file():
        pytest.skip("no local copy of the MIMIC-IV demo release (MIMIC_DEMO_DIR)")
    shutil.copytree(source, copy)
    return copy


def last_data_year(release: Path) -> int:
    return 2022 if release.name.endswith("generated") else 2019


@pytest.fixture(scope="module")
def baseline(work: Path, release: Path) -> Path:
    return build(work, f"{release.name}-baseline", release, last_data_year(release))


def edited_copy(
    work: Path,
    release: Path,
    name: str,
    edit: Callable[[list[Row]], list[Row]],
    edit_transfers: Callable[[list[Row]], list[Row]] | None = None,
) -> Path:
    copy = work / f"{release.name}-{name}"
    shutil.copytree(release, copy)
    fields, rows = read_admissions(copy)
    write_admissions(copy, fields, edit(rows))
    if edit_transfers is not None:
        fields, rows = read_admissions(copy, "transfers")
        write_admissions(copy, fields, edit_transfers(rows), "transfers")
    return copy


def indexes(database: Path) -> dict[int, datetime]:
    rows = query(
        database, "select subject_id, index_at from intermediate.int_patients_indexed where has_follow_up"
    )
    return {int(subject): index for subject, index in rows if isinstance(index, datetime)}


def test_admissions_after_the_index_change_no_feature(work: Path, release: Path, baseline: Path) -> None:
    followed = indexes(baseline)
    assert followed, "no patient of the demo has a year of follow-up after the index"
    added_for = min(followed)
    _, rows = read_admissions(release)
    after = [
        row
        for row in rows
        if int(row["subject_id"]) in followed
        and datetime.strptime(row["admittime"], TIME) > followed[int(row["subject_id"])]
    ]
    assert after, "no admission after any index to change"
    changed = after[0]["hadm_id"]

    def edit(rows: list[Row]) -> list[Row]:
        edited = []
        for row in rows:
            if row["hadm_id"] == changed:
                # a stay ten days longer, after the index
                discharged = datetime.strptime(row["dischtime"], TIME) + timedelta(days=10)
                row = {**row, "dischtime": discharged.strftime(TIME)}
            edited.append(row)
        template = next(row for row in rows if int(row["subject_id"]) == added_for)
        admitted = followed[added_for] + timedelta(days=30)
        edited.append(
            {
                **template,
                "hadm_id": str(max(int(row["hadm_id"]) for row in rows) + 1),
                # an emergency inpatient stay, a hospitalization under every readmission_definition
                # (the template may be an observation stay, which 'inpatient' does not count)
                "admission_type": "EW EMER.",
                "admittime": admitted.strftime(TIME),
                "dischtime": (admitted + timedelta(days=5)).strftime(TIME),
                "deathtime": "",
                "hospital_expire_flag": "0",
                "edregtime": "",
                "edouttime": "",
            }
        )
        return edited

    def edit_transfers(rows: list[Row]) -> list[Row]:
        # an ED visit that led to no admission, 20 days after the index
        arrived = followed[added_for] + timedelta(days=20)
        return [
            *rows,
            {
                "subject_id": str(added_for),
                "hadm_id": "",
                "transfer_id": str(max(int(row["transfer_id"]) for row in rows) + 1),
                "eventtype": "ED",
                "careunit": "Emergency Department",
                "intime": arrived.strftime(TIME),
                "outtime": (arrived + timedelta(hours=5)).strftime(TIME),
            },
        ]

    database = build(
        work,
        f"{release.name}-after-index",
        edited_copy(work, release, "after-index", edit, edit_transfers),
        last_data_year(release),
    )
    assert features(database) == features(baseline)
    scores = lace_scores(baseline)
    assert scores, "no index discharge before any index to score"
    assert lace_scores(database) == scores
    # LACE at the index, which the prospective comparison groups by, is the same too
    at_index = lace_at_index(baseline)
    assert any(score is not None for _, score, _ in at_index.values())
    assert lace_at_index(database) == at_index
    # the outcomes, read from the whole release, do see the added admission
    sql = (
        "select admissions from intermediate.int_patients_followed_up_after_index"
        f" where subject_id = {added_for}"
    )
    assert query(database, sql)[0][0] == query(baseline, sql)[0][0] + 1


def test_an_admission_before_the_index_changes_features(work: Path, release: Path, baseline: Path) -> None:
    followed = indexes(baseline)
    # a patient whose first episode is one stay, scored: a longer first stay changes its LACE
    scored_alone = query(
        baseline,
        "select subject_id from marts.readmission_risk_scores where episode_number = 1 and num_stays = 1",
    )
    subject = min(int(subject_id) for (subject_id,) in scored_alone if int(subject_id) in followed)
    first = min(
        (row for row in read_admissions(release)[1] if int(row["subject_id"]) == subject),
        key=lambda row: row["admittime"],
    )

    def edit(rows: list[Row]) -> list[Row]:
        # the first admission (the index is a year after its start) ends a day later
        return [
            {
                **row,
                "dischtime": (datetime.strptime(row["dischtime"], TIME) + timedelta(days=1)).strftime(TIME),
            }
            if row["hadm_id"] == first["hadm_id"]
            else row
            for row in rows
        ]

    database = build(
        work,
        f"{release.name}-before-index",
        edited_copy(work, release, "before-index", edit),
        last_data_year(release),
    )
    before, after = features(baseline), features(database)
    assert after[subject] != before[subject]
    assert {key: value for key, value in after.items() if key != subject} == {
        key: value for key, value in before.items() if key != subject
    }
    scores_before, scores_after = lace_scores(baseline), lace_scores(database)
    assert scores_after[(subject, 1)] != scores_before[(subject, 1)]
    assert {key: value for key, value in scores_after.items() if key[0] != subject} == {
        key: value for key, value in scores_before.items() if key[0] != subject
    }
    at_index_before, at_index_after = lace_at_index(baseline), lace_at_index(database)
    assert {key: value for key, value in at_index_after.items() if key != subject} == {
        key: value for key, value in at_index_before.items() if key != subject
    }


def test_the_whole_project_builds_and_passes_in_index_mode(built: dict[str, str], tmp_path: Path) -> None:
    """What `make prospective` runs: every model and test in index mode, not only the feature
    path above (the return curves' end-of-data bounds once disagreed with the as-of estimate
    there, because one read the feature window and the other every admission)."""
    env, result = rebuilt_on_a_copy(built, tmp_path, "--vars", json.dumps({"feature_index": "first_year"}))
    assert "WARN=0" in result.stdout
    with duckdb.connect(env["MIMIC_SEGMENTS_DEV_DB"], read_only=True) as connection:
        rows = connection.execute("select count(*) from marts.segment_prospective_outcomes").fetchone()
        curves = connection.execute("select count(*) from marts.segment_return_curves").fetchone()
        outcomes = connection.execute(
            "select outcome, num_patients, mean_outcome, outcome_total, ci_lower, ci_upper"
            " from marts.segment_prospective_outcomes where num_patients >= 2"
        ).df()
    assert rows is not None and rows[0] > 0
    assert curves is not None and curves[0] > 0
    # every interval holds its mean and no bound falls below 0, where no outcome can be
    assert (outcomes["ci_lower"] >= 0).all() and (outcomes["ci_lower"] <= outcomes["mean_outcome"]).all()
    assert (outcomes["mean_outcome"] <= outcomes["ci_upper"]).all()
    # death, a proportion: statsmodels' Wilson score interval, bound for bound
    died = outcomes[outcomes["outcome"] == "died"]
    lower, upper = proportion_confint(
        died["outcome_total"].round().astype(int), died["num_patients"], alpha=0.05, method="wilson"
    )
    assert len(died) > 0 and (died["ci_upper"] <= 1).all()
    np.testing.assert_allclose(died["ci_lower"], lower, rtol=0, atol=1e-12)
    np.testing.assert_allclose(died["ci_upper"], upper, rtol=0, atol=1e-12)
