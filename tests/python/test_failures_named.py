"""Failures that say what is wrong (issue 32), each on a damaged copy of the MIMIC-IV demo.

The real demo 2.2, copied into a folder whose path has spaces, quotes and non-ASCII characters,
is read in place as a release (`mimic_source_mode: release`, the path `make release-build`
takes) and built through the publisher on the models the checks need. Each copy carries one
defect, and each test asserts the message the user reads: the file, the column, the rows.

- A required table with no rows (a file with only its header) stops the build at its staging
  model, naming the file and saying "no rows", before any test reads it.
- ICU `los` against `outtime - intime`: below a second it builds, silently; above a second it
  warns and is published, with the rows in `data_quality_checks`; above the tolerance it fails,
  naming the file, the column and the rows, and never as an internal reconciliation.
- `hospital_expire_flag` against `deathtime`: a warning naming the admission.
- A release folder that does not exist is refused before dbt runs.
"""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

import duckdb
import pytest
from conftest import REPO_ROOT, data_step_lock
from test_bad_inputs import SELECT, defective_copy, rewrite, sha256

from mimic_segments.publishing import duckdb_file, errors
from mimic_segments.sources import ccsr, reference

pytestmark = pytest.mark.e2e

DEMO_DIR = Path(os.environ.get("MIMIC_DEMO_DIR") or REPO_ROOT.parent / "shared" / "mimic-iv-demo" / "2.2")


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("failures-named") / 'it\'s the "démo"'
    root.mkdir()
    return root


@pytest.fixture(scope="module")
def demo_release(work: Path) -> Path:
    """The demo's six tables in the official layout (read in place, as a 2.2 release)."""
    if not (DEMO_DIR / "hosp" / "patients.csv.gz").is_file():
        pytest.skip(f"MIMIC-IV demo not found at {DEMO_DIR}")
    with data_step_lock():
        reference.build_reference(REPO_ROOT / reference.DEFAULT_DEST)
        ccsr.build_ccsr_reference(REPO_ROOT / reference.DEFAULT_DEST)
    release = work / "mimic-iv-demo 2.2 'copie'"
    for module, table in [
        ("hosp", "patients"),
        ("hosp", "admissions"),
        ("hosp", "diagnoses_icd"),
        ("hosp", "d_icd_diagnoses"),
        ("hosp", "transfers"),
        ("icu", "icustays"),
    ]:
        (release / module).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(DEMO_DIR / module / f"{table}.csv.gz", release / module / f"{table}.csv.gz")
    return release


def env_for(work: Path, name: str, release_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DBT_PROFILES_DIR=str(REPO_ROOT),
        DBT_TARGET_PATH=str(work / f"target-{name}"),
        DBT_LOG_PATH=str(work / f"logs-{name}"),
        DBT_SEND_ANONYMOUS_USAGE_STATS="false",
        MIMIC_RELEASE_DIR=str(release_dir),
        MIMIC_LAST_DATA_YEAR="2019",
    )
    env.pop("DBT_VARS", None)
    return env


def publish(work: Path, database: Path, release_dir: Path, name: str) -> tuple[str | None, str]:
    out = io.StringIO()
    build_id = duckdb_file.build(
        REPO_ROOT, database, SELECT, release=True, env=env_for(work, name, release_dir), out=out
    )
    return build_id, out.getvalue()


@pytest.fixture(scope="module")
def published(work: Path, demo_release: Path) -> Path:
    database = work / "BI «démo».duckdb"
    build_id, output = publish(work, database, demo_release, "good")
    assert build_id is not None
    assert "WARN=0 ERROR=0" in output
    return database


def failed_build(work: Path, database: Path, release_dir: Path, name: str) -> str:
    before = sha256(database)
    with pytest.raises(errors.PublishError) as failure:
        publish(work, database, release_dir, name)
    assert sha256(database) == before, "a failed build changed the published database"
    return str(failure.value)


def edit_rows(path: Path, column: str, change, rows: slice = slice(None)) -> list[dict[str, str]]:  # type: ignore[no-untyped-def]
    """Apply ``change(value) -> value`` to ``column`` of the data rows in ``rows`` (the demo's
    files hold no quoted commas in these tables); return the edited rows as they were."""
    edited: list[dict[str, str]] = []

    def edit(lines: list[str]) -> list[str]:
        header = lines[0].rstrip("\n").split(",")
        index = header.index(column)
        body = lines[1:]
        chosen = range(len(body))[rows]
        for i in chosen:
            fields = body[i].rstrip("\n").split(",")
            edited.append(dict(zip(header, fields, strict=True)))
            fields[index] = change(fields[index])
            body[i] = ",".join(fields) + "\n"
        return [lines[0], *body]

    rewrite(path, edit)
    return edited


def stretch_los(seconds: float):  # type: ignore[no-untyped-def]
    return lambda los: repr(float(los) + seconds / 86400)


@pytest.mark.parametrize(
    "file",
    ["hosp/admissions.csv.gz", "hosp/patients.csv.gz", "hosp/d_icd_diagnoses.csv.gz", "icu/icustays.csv.gz"],
)
def test_a_table_with_no_rows_is_named(published: Path, demo_release: Path, work: Path, file: str) -> None:
    name = Path(file).name.removesuffix(".csv.gz")
    release = defective_copy(demo_release, work, f"header-only {name}")
    rewrite(release / file, lambda lines: lines[:1])
    message = failed_build(work, published, release, f"header-only-{name}")
    assert f"- model stg_mimic__{name}: error" in message
    assert f"MIMIC-IV table {name} has no rows: {release}/{file} holds no data rows" in message
    # it stops there: no test that reads the empty table runs, so none fails two tables away
    assert "- test " not in message


def test_an_icu_los_a_third_of_a_second_off_builds(published: Path, demo_release: Path, work: Path) -> None:
    """Within MIMIC's timestamp resolution: published, with no warning (before issue 32, the
    build failed in contract_int_icustays_aggregated_to_patients)."""
    release = defective_copy(demo_release, work, "los +0.3 s")
    edit_rows(release / "icu" / "icustays.csv.gz", "los", stretch_los(0.3))
    database = work / "los-0.3.duckdb"
    build_id, output = publish(work, database, release, "los-0.3")
    assert build_id is not None
    assert "WARN=0 ERROR=0" in output
    with duckdb.connect(str(database), read_only=True) as connection:
        checks = connection.execute(
            "select check_name, has_passed, num_failing_rows from marts.data_quality_checks"
            " where check_kind = 'consistency' order by check_name"
        ).fetchall()
    assert checks == [
        ("hospital_expire_flag_agrees_with_deathtime", True, 0),
        ("icu_los_agrees_with_timestamps", True, 0),
        ("icu_los_within_tolerance_of_timestamps", True, 0),
    ]


def test_an_icu_los_minutes_off_warns_naming_the_rows(work: Path, demo_release: Path) -> None:
    release = defective_copy(demo_release, work, "los +90 s")
    edited = edit_rows(release / "icu" / "icustays.csv.gz", "los", stretch_los(90), slice(2, 5))
    database = work / "los-90.duckdb"
    build_id, output = publish(work, database, release, "los-90")
    assert build_id is not None
    assert "ERROR=0" in output
    assert "Warning in test icustays_los_agrees_with_intime_outtime" in output
    assert "Got 3 results, configured to warn if != 0" in output
    with duckdb.connect(str(database), read_only=True) as connection:
        check = connection.execute(
            "select severity, source_file, column_name, round(observed_value), num_failing_rows,"
            " first_failing_keys, has_passed from marts.data_quality_checks"
            " where check_name = 'icu_los_agrees_with_timestamps'"
        ).fetchone()
        stored = connection.execute(
            "select stay_id, round(disagreement_seconds, 3)"
            " from audit.icustays_los_agrees_with_intime_outtime order by stay_id"
        ).fetchall()
    keys = sorted(int(row["stay_id"]) for row in edited)
    assert check == (
        "warn",
        f"{release}/icu/icustays.csv.gz",
        "recorded_icu_length_of_stay_days",
        90.0,
        3,
        ", ".join(f"stay_id={key}" for key in keys),
        False,
    )
    assert stored == [(key, 90.0) for key in keys]


def test_an_icu_los_hours_off_fails_naming_file_column_and_rows(
    published: Path, demo_release: Path, work: Path
) -> None:
    release = defective_copy(demo_release, work, "los +2 h")
    (row,) = edit_rows(release / "icu" / "icustays.csv.gz", "los", stretch_los(7200), slice(7, 8))
    message = failed_build(work, published, release, "los-2h")
    assert "- test icustays_los_within_tolerance_of_intime_outtime: fail" in message
    assert f"file:   {release}/icu/icustays.csv.gz" in message
    assert "column: recorded_icu_length_of_stay_days" in message
    assert f"stay_id={row['stay_id']}, icu_admitted_at=" in message
    assert "disagreement_seconds=7200." in message
    # reported where the file is staged, not by an internal reconciliation further down (no
    # test of an intermediate model fails; before the stock tests: no contract_int_ test)
    assert "    model:  int_" not in message


def test_a_hospital_expire_flag_without_deathtime_warns(work: Path, demo_release: Path) -> None:
    release = defective_copy(demo_release, work, "flag")
    (row,) = edit_rows(
        release / "hosp" / "admissions.csv.gz", "hospital_expire_flag", lambda flag: "1", slice(0, 1)
    )
    assert row["hospital_expire_flag"] == "0" and row["deathtime"] == ""
    database = work / "flag.duckdb"
    build_id, output = publish(work, database, release, "flag")
    assert build_id is not None
    assert "Warning in test admissions_hospital_expire_flag_agrees_with_deathtime" in output
    with duckdb.connect(str(database), read_only=True) as connection:
        check = connection.execute(
            "select severity, source_file, column_name, num_failing_rows, first_failing_keys"
            " from marts.data_quality_checks where check_name = 'hospital_expire_flag_agrees_with_deathtime'"
        ).fetchone()
    assert check == (
        "warn",
        f"{release}/hosp/admissions.csv.gz",
        "is_hospital_death",
        1,
        f"hadm_id={row['hadm_id']}",
    )


def test_a_release_folder_that_does_not_exist_is_refused(published: Path, work: Path) -> None:
    missing = work / "no such release"
    message = failed_build(work, published, missing, "missing")
    assert message == (
        f"MIMIC_RELEASE_DIR={missing} does not exist: point it at a MIMIC-IV release in its "
        "official layout (the folder holding hosp/ and icu/)."
    )


def test_a_demo_build_refuses_a_release_folder_it_would_not_read(work: Path, demo_release: Path) -> None:
    env = env_for(work, "demo-with-release", demo_release)
    with pytest.raises(
        errors.PublishError, match=r"MIMIC_RELEASE_DIR is set \(.*\), but this is a demo build"
    ):
        duckdb_file.build(REPO_ROOT, work / "demo.duckdb", SELECT, env=env, out=io.StringIO())
    assert not (work / "demo.duckdb").exists()
