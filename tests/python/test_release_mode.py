"""Full-release mode end to end, on a small generated MIMIC-IV 3.1-shaped release.

`dbt build` with `mimic_source_mode: release` reads the generated files in place (no seeds),
passes every test, and its features agree patient by patient with the benchmark's pandas and
one-query DuckDB versions. The pre-flight check fails fast, naming the path, on a missing file
or a wrong header; a 3.1 release read with 2.2's last data year fails its test; Parquet copies
give the same features as the CSVs; and the real demo, read in place as a 2.2 release, gives
the same patient_features as the seeded demo.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from conftest import generated_release

from mimic_segments import release_parquet

pytestmark = pytest.mark.e2e

REPO_ROOT = Path(__file__).resolve().parents[2]
DBT = Path(sys.executable).with_name("dbt")
PATIENTS = 2_000

sys.path.insert(0, str(REPO_ROOT / "bench"))
import approaches  # noqa: E402
import run_benchmark  # noqa: E402


def release_vars(release_dir: Path, **extra: object) -> str:
    return json.dumps(
        {
            "mimic_source_mode": "release",
            "mimic_release_dir": str(release_dir),
            "mimic_last_data_year": 2022,
            **extra,
        }
    )


def run_dbt(env: dict[str, str], *args: str, expect_ok: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(DBT), *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=False
    )
    if expect_ok:
        assert result.returncode == 0, (
            f"dbt {' '.join(args)} failed:\n{result.stdout[-6000:]}\n{result.stderr}"
        )
    return result


def dbt_env(work: Path, name: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DBT_PROFILES_DIR=str(REPO_ROOT),
        MIMIC_SEGMENTS_DB=str(work / f"{name}.duckdb"),
        DBT_TARGET_PATH=str(work / f"target-{name}"),
        DBT_LOG_PATH=str(work / f"logs-{name}"),
        DBT_SEND_ANONYMOUS_USAGE_STATS="false",
    )
    env.pop("MIMIC_RELEASE_DIR", None)
    return env


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("release-mode")


@pytest.fixture(scope="module")
def release(work: Path) -> Path:
    return generated_release(work / "mimiciv-3.1-generated", PATIENTS, seed=11)


@pytest.fixture(scope="module")
def release_built(work: Path, release: Path) -> dict[str, str]:
    env = dbt_env(work, "csv")
    result = run_dbt(env, "build", "--vars", release_vars(release))
    assert "ERROR=0" in result.stdout and "WARN=0" in result.stdout
    assert "layout and columns verified" in result.stdout
    return env


@pytest.fixture()
def db(release_built: dict[str, str]) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect(release_built["MIMIC_SEGMENTS_DB"], read_only=True)
    yield connection
    connection.close()


def file_rows(path: Path) -> int:
    with gzip.open(path, "rt") as handle:
        return sum(1 for _ in handle) - 1


def test_builds_from_the_release_files_without_seeding(db: duckdb.DuckDBPyConnection, release: Path) -> None:
    # staging holds every row of every file, as tables (each file read once per build)
    for table in release_parquet.source_tables():
        staged = db.execute(f"select count(*) from staging.stg_mimic__{table.name}").fetchone()
        assert staged == (file_rows(table.csv_path(release)),), table.name
    kinds = dict(
        db.execute(
            "select table_name, table_type from information_schema.tables where table_schema = 'staging'"
        ).fetchall()
    )
    assert set(kinds.values()) == {"BASE TABLE"}
    # no MIMIC table was seeded (the project's reference seeds, e.g. Charlson code lists, were)
    seeded = {row[0] for row in db.execute("select table_name from information_schema.tables").fetchall()}
    assert seeded.isdisjoint({"patients", "admissions", "diagnoses_icd", "d_icd_diagnoses", "icustays"})
    assert "charlson_icd_codes" in seeded


def test_patient_features_reconcile_with_the_files(db: duckdb.DuckDBPyConnection, release: Path) -> None:
    totals = db.execute(
        "select count(*), sum(num_admissions), sum(icu_stay_count) from marts.patient_features"
    ).fetchone()
    assert totals == (
        PATIENTS,
        file_rows(release / "hosp" / "admissions.csv.gz"),
        file_rows(release / "icu" / "icustays.csv.gz"),
    )
    assert db.execute("select count(distinct cluster_id) from marts.patient_clusters").fetchone() == (4,)
    # ICD-9 codes keep their leading zeros through the typed external source
    assert db.execute(
        "select count(*) > 0 from staging.stg_mimic__diagnoses_icd"
        " where icd_version = 9 and icd_code like '0%'"
    ).fetchone() == (True,)


def test_features_agree_with_the_benchmark_approaches(release_built: dict[str, str], release: Path) -> None:
    """dbt, pandas and the one-query DuckDB version give the same features and clusters."""
    reference = run_benchmark._dbt_features(Path(release_built["MIMIC_SEGMENTS_DB"]))
    for approach in ("pandas", "duckdb"):
        features, assignments = approaches.run(approach, release, 2022)
        other = features.merge(assignments[["subject_id", "cluster_id"]], on="subject_id").sort_values(
            "subject_id", ignore_index=True
        )
        assert run_benchmark.compare_features(reference, other, approach) == []


def test_the_comparison_catches_a_difference(release_built: dict[str, str]) -> None:
    reference = run_benchmark._dbt_features(Path(release_built["MIMIC_SEGMENTS_DB"]))
    changed = reference.copy()
    changed.loc[3, "num_unique_icd_diagnoses"] += 1
    changed.loc[5, "gender"] = "Unknown" if changed.loc[5, "gender"] != "Unknown" else "F"
    problems = run_benchmark.compare_features(reference, changed, "changed")
    assert len(problems) == 2
    assert "num_unique_icd_diagnoses differs for 1 patients" in problems[0]


def test_parquet_copies_give_the_same_features(
    release_built: dict[str, str], work: Path, release: Path
) -> None:
    """A build over Parquet copies (staging as views) passes every test, with the same features."""
    copy = work / "parquet-copy"
    release_parquet.convert(release, copy, progress=False)
    env = dbt_env(work, "parquet")
    run_dbt(env, "build", "--vars", release_vars(copy, mimic_release_format="parquet"))
    csv_features = run_benchmark._dbt_features(Path(release_built["MIMIC_SEGMENTS_DB"]))
    parquet_features = run_benchmark._dbt_features(Path(env["MIMIC_SEGMENTS_DB"]))
    assert run_benchmark.compare_features(csv_features, parquet_features, "parquet") == []


def test_missing_file_fails_fast_naming_the_path(work: Path, release: Path) -> None:
    broken = work / "missing-icustays"
    shutil.copytree(release, broken)
    (broken / "icu" / "icustays.csv.gz").unlink()
    result = run_dbt(dbt_env(work, "missing"), "build", "--vars", release_vars(broken), expect_ok=False)
    assert result.returncode != 0
    assert f"missing {broken}/icu/icustays.csv.gz" in result.stdout
    assert "Expected one .csv.gz file per table under hosp/ and icu/" in result.stdout
    assert "OK created" not in result.stdout  # no model ran


def test_wrong_header_fails_fast_naming_file_and_columns(work: Path, release: Path) -> None:
    broken = work / "reordered-patients"
    shutil.copytree(release, broken)
    path = broken / "hosp" / "patients.csv.gz"
    with gzip.open(path, "rt") as handle:
        lines = handle.read().splitlines()
    lines[0] = lines[0].replace("anchor_age,anchor_year", "anchor_year,anchor_age")
    with gzip.open(path, "wt") as handle:
        handle.write("\n".join(lines) + "\n")
    result = run_dbt(
        dbt_env(work, "header"),
        "run",
        "--select",
        "stg_mimic__patients",
        "--vars",
        release_vars(broken),
        expect_ok=False,
    )
    assert result.returncode != 0
    assert f"MIMIC-IV file '{path}' does not have the columns of hosp/patients" in result.stdout
    assert "Expected (in this order): subject_id, gender, anchor_age, anchor_year" in result.stdout


def test_unset_release_dir_fails_fast(work: Path) -> None:
    result = run_dbt(
        dbt_env(work, "unset"),
        "run",
        "--select",
        "stg_mimic__patients",
        "--vars",
        json.dumps({"mimic_source_mode": "release"}),
        expect_ok=False,
    )
    assert result.returncode != 0
    assert "no release directory is set" in result.stdout


def test_a_31_release_with_22s_last_data_year_fails_its_test(work: Path, release: Path) -> None:
    result = run_dbt(
        dbt_env(work, "year"),
        "build",
        "--select",
        "stg_mimic__patients",
        "--vars",
        release_vars(release, mimic_last_data_year=2019),
        expect_ok=False,
    )
    assert result.returncode != 0
    assert "FAIL" in result.stdout and "anchor_year_groups_end_by_mimic_last_data_year" in result.stdout


def test_the_demo_read_as_a_release_gives_the_demo_seeds_features(built: dict[str, str], work: Path) -> None:
    """The real MIMIC-IV demo 2.2 is a release in the official layout: read in place in release
    mode, it gives the same patient_features, row for row, as the seeded demo (the staging
    models are the same in both modes)."""
    demo_dir = Path(os.environ.get("MIMIC_DEMO_DIR") or REPO_ROOT.parent / "shared" / "mimic-iv-demo" / "2.2")
    if not (demo_dir / "hosp" / "patients.csv.gz").is_file():
        pytest.skip(f"MIMIC-IV demo not found at {demo_dir}")
    env = dbt_env(work, "demo-release")
    variables = json.dumps(
        {"mimic_source_mode": "release", "mimic_release_dir": str(demo_dir), "mimic_last_data_year": 2019}
    )
    run_dbt(env, "build", "--vars", variables)

    def features(path: str) -> list[tuple[object, ...]]:
        with duckdb.connect(path, read_only=True) as connection:
            return connection.execute("select * from marts.patient_features order by subject_id").fetchall()

    from_release = features(env["MIMIC_SEGMENTS_DB"])
    assert len(from_release) == 100
    assert from_release == features(built["MIMIC_SEGMENTS_DB"])
