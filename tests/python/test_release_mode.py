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
from synthetic_patients import catalogue

from mimic_segments.reporting import return_curves, validation
from mimic_segments.reporting.validation import dbt_env
from mimic_segments.sources import release_parquet

pytestmark = pytest.mark.e2e

REPO_ROOT = Path(__file__).resolve().parents[2]
DBT = Path(sys.executable).with_name("dbt")
PATIENTS = 2_000
# the catalogue's rule-defined segments of never-admitted patients, split by ED use (names are
# data: read from the seed)
_NEVER_ADMITTED = catalogue().query(
    "persona_kind == 'rule_defined' and segment_rule.str.startswith('never_admitted')", engine="python"
)
NEVER_ADMITTED_NAMES = dict(zip(_NEVER_ADMITTED["persona_key"], _NEVER_ADMITTED["persona_name"], strict=True))

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
    connection = duckdb.connect(release_built["MIMIC_SEGMENTS_DEV_DB"], read_only=True)
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
        "select count(*), sum(num_admissions), sum(icu_stay_count) from segmentation.patient_features"
    ).fetchone()
    assert totals == (
        PATIENTS,
        file_rows(release / "hosp" / "admissions.csv.gz"),
        file_rows(release / "icu" / "icustays.csv.gz"),
    )
    assert db.execute("select count(distinct cluster_id) from segmentation.patient_clusters").fetchone() == (
        4,
    )
    # ICD-9 codes keep their leading zeros through the typed external source
    assert db.execute(
        "select count(*) > 0 from staging.stg_mimic__diagnoses_icd"
        " where icd_version = 9 and icd_code like '0%'"
    ).fetchone() == (True,)


def test_segments_describe_the_hospital_population(db: duckdb.DuckDBPyConnection, release: Path) -> None:
    """The generated release has MIMIC-IV 3.1's registry shape (38.7 % never admitted): the
    clustered segments hold admitted patients only, the rule-defined segment exactly the rest."""
    with gzip.open(release / "hosp" / "admissions.csv.gz", "rt") as handle:
        admitted = {int(line.split(",", 1)[0]) for line in list(handle)[1:]}
    assert 1 - len(admitted) / PATIENTS == pytest.approx(141_175 / 364_627, abs=0.03)
    segments = db.execute(
        "select subject_id, segment_kind, segment_key, cluster_id from marts.patient_segments"
    ).df()
    assert len(segments) == PATIENTS and segments["subject_id"].is_unique
    clustered = segments[segments["segment_kind"] == "clustered"]
    rule = segments[segments["segment_kind"] == "rule_defined"]
    assert set(clustered["subject_id"]) == admitted  # no never-admitted patient in any cluster
    # every admitted patient is in the clustering population (clustering_population_min_admissions
    # 1), so the rule-defined segments are the never-admitted ones, split by their ED use
    assert set(rule["segment_key"]) <= set(NEVER_ADMITTED_NAMES)
    assert "occasional_ed_use_never_admitted" in set(rule["segment_key"])
    assert rule["cluster_id"].isna().all() and clustered["cluster_id"].notna().all()
    assert len(rule) == PATIENTS - len(admitted)
    # both scorers scored exactly the admitted patients
    for model in ("patient_clusters", "patient_nearest_centroid", "int_patients_prepared_for_segmentation"):
        schema = "intermediate" if model.startswith("int_") else "segmentation"
        ids = {row[0] for row in db.execute(f"select subject_id from {schema}.{model}").fetchall()}
        assert ids == admitted, model
    # counts reconcile: segment sizes sum to the registry and to the clustering population
    sizes = db.execute(
        "select sum(num_patients), sum(num_patients) filter (where segment_kind = 'clustered'),"
        " sum(share_of_registry), sum(share_of_clustered_population) from marts.segments"
    ).fetchone()
    assert sizes[:2] == (PATIENTS, len(admitted))
    assert sizes[2:] == (pytest.approx(1.0), pytest.approx(1.0))
    # the scaler was fitted on the admitted: the mean of log1p(num_admissions) is theirs
    scaler = db.execute(
        "select distinct scaler_mean from segmentation.segment_centroids where feature_name = "
        "'num_admissions'"
    ).fetchall()
    admitted_mean = db.execute(
        "select avg(ln(1 + num_admissions)) from segmentation.patient_features where num_admissions > 0"
    ).fetchone()[0]
    assert len(scaler) == 1 and scaler[0][0] == pytest.approx(admitted_mean, abs=1e-12)


def test_return_curves_match_statsmodels_on_a_generated_release(db: duckdb.DuckDBPyConnection) -> None:
    """The SQL estimators agree with statsmodels to 1e-9 on every day of every curve, and the
    release's recent anchor year groups make the end-of-data assumption matter: the earliest
    end of data censors more patients before the horizon than the latest."""
    comparison = return_curves.compare_with_statsmodels(db)
    assert comparison.agrees(1e-9), comparison
    clustered = db.execute("select count(*) from marts.segments where segment_kind = 'clustered'").fetchone()[
        0
    ]
    # never-admitted patients have no index discharge: only the clustered segments have curves
    assert comparison.curves == 3 * (clustered + 1)
    censored_early = dict(
        db.execute(
            "select end_of_data_assumption, count(*) from intermediate.int_patients_followed_for_return"
            " where censored_by = 'end_of_data' group by end_of_data_assumption"
        ).fetchall()
    )
    assert censored_early["earliest"] > censored_early.get("latest", 0)


def test_the_validation_report_reads_its_numbers_from_the_builds(
    release_built: dict[str, str], built: dict[str, str], release: Path, tmp_path: Path
) -> None:
    """make validation-report's writer, on this small release and the demo (render only)."""
    out = tmp_path / "validation.md"
    code = validation.main(
        [
            "--render-only",
            "--release-db",
            release_built["MIMIC_SEGMENTS_DEV_DB"],
            "--demo-db",
            built["MIMIC_SEGMENTS_DEV_DB"],
            "--patients",
            str(PATIENTS),
            "--out",
            str(out),
        ]
    )
    assert code == 0
    text = out.read_text()
    with gzip.open(release / "hosp" / "admissions.csv.gz", "rt") as handle:
        admitted = len({line.split(",", 1)[0] for line in list(handle)[1:]})
    found = validation.collect(Path(release_built["MIMIC_SEGMENTS_DEV_DB"]), "release")
    assert found.population == {
        "registry": PATIENTS,
        "admitted": admitted,
        "never_admitted": PATIENTS - admitted,
    }
    assert found.never_admitted_in_clusters == 0
    assert f"| admitted: the clustering population | {admitted:,} |" in text
    assert "| never-admitted patients in a clustered segment | 0 |" in text
    assert f"| segment sizes sum to the registry | {PATIENTS:,} = {PATIENTS:,} |" in text
    # the rule-defined segments hold only 0-admission patients, every clustered one none
    table = found.admissions.pivot(index="segment_key", columns="admissions", values="patients").fillna(0)
    rule_keys = [key for key in table.index if key in NEVER_ADMITTED_NAMES]
    assert rule_keys
    for key in rule_keys:
        assert f"| `{key}` | rule_defined | {NEVER_ADMITTED_NAMES[key]} |" in text
    assert table.loc[rule_keys].drop(columns="0").to_numpy().sum() == 0
    assert table.drop(index=rule_keys)["0"].sum() == 0
    demo = validation.collect(Path(built["MIMIC_SEGMENTS_DEV_DB"]), "demo")
    assert demo.population == {"registry": 100, "admitted": 100, "never_admitted": 0}
    assert "## MIMIC-IV demo 2.2 (100 patients)" in text
    # the return curves of both builds, each checked against statsmodels
    assert text.count("### Return to hospital after the first discharge alive") == 2
    assert text.count("(**agree** to 1e-9)") == 2
    with duckdb.connect(release_built["MIMIC_SEGMENTS_DEV_DB"], read_only=True) as connection:
        indexed = connection.execute(
            "select count(*) from intermediate.int_patients_followed_for_return"
            " where end_of_data_assumption = 'earliest' and outcome <> 'not_followed'"
        ).fetchone()[0]
    assert f"| `overall` | {indexed:,} |" in text


def test_features_agree_with_the_benchmark_approaches(release_built: dict[str, str], release: Path) -> None:
    """dbt, pandas and the one-query DuckDB version give the same features and clusters."""
    reference = run_benchmark._dbt_features(Path(release_built["MIMIC_SEGMENTS_DEV_DB"]))
    for approach in ("pandas", "duckdb"):
        features, assignments = approaches.run(approach, release, 2022)
        other = features.merge(
            assignments[["subject_id", "cluster_id"]], on="subject_id", how="left"
        ).sort_values("subject_id", ignore_index=True)
        assert run_benchmark.compare_features(reference, other, approach) == []


def test_the_comparison_catches_a_difference(release_built: dict[str, str]) -> None:
    reference = run_benchmark._dbt_features(Path(release_built["MIMIC_SEGMENTS_DEV_DB"]))
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
    csv_features = run_benchmark._dbt_features(Path(release_built["MIMIC_SEGMENTS_DEV_DB"]))
    parquet_features = run_benchmark._dbt_features(Path(env["MIMIC_SEGMENTS_DEV_DB"]))
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


NEVER_ADMITTED_ADDED = 50


def test_the_demo_read_as_a_release_gives_the_demo_seeds_features(built: dict[str, str], work: Path) -> None:
    """The real MIMIC-IV demo 2.2 is a release in the official layout: read in place in release
    mode, it gives the same patient_features, row for row, as the seeded demo (the staging
    models are the same in both modes). Fifty registry patients without an admission are added
    to the copy read here, with emergency department visits in transfers for some: they land in
    the rule-defined segments by their ED use (10 frequent users with 5 visits in a year, 20
    occasional ones with 2, 20 with none), and the 100 admitted patients keep exactly the
    segments, personas and distances of the seeded demo (before the population rule, the same
    addition renamed the persona of 71 of them)."""
    demo_dir = Path(os.environ.get("MIMIC_DEMO_DIR") or REPO_ROOT.parent / "shared" / "mimic-iv-demo" / "2.2")
    if not (demo_dir / "hosp" / "patients.csv.gz").is_file():
        pytest.skip(f"MIMIC-IV demo not found at {demo_dir}")
    release = work / "demo-plus-registry"
    shutil.copytree(demo_dir, release)
    added = [30_000_000 + i for i in range(NEVER_ADMITTED_ADDED)]
    with gzip.open(release / "hosp" / "patients.csv.gz", "at") as handle:
        for i, subject_id in enumerate(added):
            handle.write(f"{subject_id},{'MF'[i % 2]},{30 + i},{2150 + i},2011 - 2013,\n")
    visits_per_patient = {0: 5, 1: 2, 2: 2}  # by i % 5; the others made no ED visit
    with gzip.open(release / "hosp" / "transfers.csv.gz", "at") as handle:
        for i, subject_id in enumerate(added):
            for visit in range(visits_per_patient.get(i % 5, 0)):
                day = f"{2150 + i}-0{1 + visit}-15"
                handle.write(
                    f"{subject_id},,{40_000_000 + 10 * i + visit},ED,Emergency Department,"
                    f"{day} 08:00:00,{day} 14:00:00\n"
                )
    env = dbt_env(work, "demo-release")
    variables = json.dumps(
        {"mimic_source_mode": "release", "mimic_release_dir": str(release), "mimic_last_data_year": 2019}
    )
    run_dbt(env, "build", "--vars", variables)

    def table(path: str, sql: str) -> list[tuple[object, ...]]:
        with duckdb.connect(path, read_only=True) as connection:
            return connection.execute(sql).fetchall()

    admitted_only = f"where subject_id < {added[0]} order by subject_id"
    features = f"select * from segmentation.patient_features {admitted_only}"
    from_release = table(env["MIMIC_SEGMENTS_DEV_DB"], features)
    assert len(from_release) == 100
    assert from_release == table(built["MIMIC_SEGMENTS_DEV_DB"], features)
    segments = (
        "select subject_id, segment_key, segment_name, distance_to_centroid"
        f" from marts.patient_segments {admitted_only}"
    )
    assert table(env["MIMIC_SEGMENTS_DEV_DB"], segments) == table(built["MIMIC_SEGMENTS_DEV_DB"], segments)
    rule = table(
        env["MIMIC_SEGMENTS_DEV_DB"],
        "select segment_key, segment_kind, count(*), count(cluster_id) from marts.patient_segments"
        f" where subject_id >= {added[0]} group by all",
    )
    assert sorted(rule) == [
        ("frequent_ed_use_never_admitted", "rule_defined", 10, 0),
        ("no_hospital_or_ed_encounter", "rule_defined", 20, 0),
        ("occasional_ed_use_never_admitted", "rule_defined", 20, 0),
    ]
    assert sum(count for _, _, count, _ in rule) == NEVER_ADMITTED_ADDED


def test_an_unclassified_admission_type_stops_the_build_naming_it(work: Path) -> None:
    """An admission_type the seed admission_type_classes does not list is never mapped silently:
    the build stops at int_admissions_classified, naming the value, how many admissions carry
    it, the file it came from and the seed to edit."""
    demo_dir = Path(os.environ.get("MIMIC_DEMO_DIR") or REPO_ROOT.parent / "shared" / "mimic-iv-demo" / "2.2")
    if not (demo_dir / "hosp" / "admissions.csv.gz").is_file():
        pytest.skip(f"MIMIC-IV demo not found at {demo_dir}")
    release = work / "demo-new-admission-type"
    shutil.copytree(demo_dir, release)
    admissions = release / "hosp" / "admissions.csv.gz"
    with gzip.open(admissions, "rt", newline="") as handle:
        lines = handle.read().splitlines(keepends=True)
    renamed = [line.replace(",DIRECT OBSERVATION,", ",HOSPITAL AT HOME,") for line in lines]
    assert sum(a != b for a, b in zip(lines, renamed, strict=True)) == 7
    with gzip.open(admissions, "wt", newline="") as handle:
        handle.writelines(renamed)
    env = dbt_env(work, "new-admission-type")
    variables = json.dumps(
        {"mimic_source_mode": "release", "mimic_release_dir": str(release), "mimic_last_data_year": 2019}
    )
    result = run_dbt(
        env, "build", "--select", "+int_admissions_classified", "--vars", variables, expect_ok=False
    )
    assert result.returncode != 0
    assert (
        f"admission_type 'HOSPITAL AT HOME' (7 admissions) in {admissions} (column admission_type)"
        " is not in the seed admission_type_classes" in result.stdout
    )
    assert "seeds/encounters/admission_type_classes.csv" in result.stdout
