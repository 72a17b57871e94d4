"""Bad inputs never reach a BI reader: releases with one defect each, built and published for real.

Each case is a small generated MIMIC-IV 3.1-shaped release (400 patients) with one defect,
built through `mimic_segments.publishing.publish` (the path `make release-build` takes) on the models the
checks need (staging, the admission timeline, the build and data-quality marts), and each
asserts the exact outcome: what is published, what the error names, and that a failed build
leaves the published file byte for byte as it was. The release and database paths contain
spaces, quotes and non-ASCII characters throughout, and the first build goes through make.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import duckdb
import pytest
import sqlalchemy
from conftest import generated_release

from mimic_segments.provenance import git_commit
from mimic_segments.publishing import dbt_run, duckdb_file, errors

pytestmark = pytest.mark.e2e

REPO_ROOT = Path(__file__).resolve().parents[2]
PATIENTS = 400
SELECT = [
    "--select",
    "+data_quality_checks",
    "+build_metadata",
    "+build_sources",
    "--indirect-selection",
    "cautious",
]
NEW_READER = """
import sys
import duckdb
with duckdb.connect(sys.argv[1], read_only=True) as connection:
    print(connection.execute("select build_id from marts.build_metadata").fetchone()[0])
"""


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build_id_seen_by_a_new_reader(database: Path) -> str:
    result = subprocess.run(
        [sys.executable, "-c", NEW_READER, str(database)], capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


def rewrite(path: Path, edit) -> None:  # type: ignore[no-untyped-def]
    with gzip.open(path, "rt", newline="") as handle:
        lines = handle.read().splitlines(keepends=True)
    with gzip.open(path, "wt", newline="") as handle:
        handle.writelines(edit(lines))


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # spaces, both quote characters and non-ASCII in every path the build sees
    root = tmp_path_factory.mktemp("bad-inputs") / 'it\'s a "clean" réléase'
    root.mkdir()
    return root


@pytest.fixture(scope="module")
def good_release(work: Path) -> Path:
    return generated_release(work / "mimiciv 3.1 'généré'", PATIENTS, seed=5)


def env_for(work: Path, name: str, release_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DBT_PROFILES_DIR=str(REPO_ROOT),
        DBT_TARGET_PATH=str(work / f"target-{name}"),
        DBT_LOG_PATH=str(work / f"logs-{name}"),
        DBT_SEND_ANONYMOUS_USAGE_STATS="false",
        MIMIC_RELEASE_DIR=str(release_dir),
        MIMIC_LAST_DATA_YEAR="2022",
    )
    return env


def defective_copy(good_release: Path, work: Path, name: str) -> Path:
    copy = work / f"release {name}"
    if copy.exists():
        shutil.rmtree(copy)
    shutil.copytree(good_release, copy)
    return copy


@pytest.fixture(scope="module")
def published(work: Path, good_release: Path) -> Path:
    """The good release built and published through `make release-build`."""
    database = work / "BI «marts» 'prod'.duckdb"
    env = env_for(work, "good", good_release)
    env.update(MIMIC_SEGMENTS_DB=str(database), DBT_ARGS=" ".join(SELECT))
    result = subprocess.run(
        ["make", "--no-print-directory", "release-build"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr
    assert f"Published {database} (build " in result.stdout
    assert "WARN=0 ERROR=0" in result.stdout
    return database


def publish_release(work: Path, database: Path, release_dir: Path, name: str) -> tuple[str | None, str]:
    out = io.StringIO()
    env = env_for(work, name, release_dir)
    build_id = duckdb_file.build(REPO_ROOT, database, SELECT, release=True, env=env, out=out)
    return build_id, out.getvalue()


def failed_build(work: Path, database: Path, release_dir: Path, name: str) -> str:
    before = sha256(database)
    with pytest.raises(errors.PublishError) as failure:
        publish_release(work, database, release_dir, name)
    assert sha256(database) == before, "a failed build changed the published database"
    message = str(failure.value)
    assert f"Published database {database}: unchanged." in message
    assert f"Candidate kept for inspection: {duckdb_file.Paths.for_database(database).candidate}" in message
    return message


def test_a_good_release_is_published_with_its_build_metadata(published: Path, good_release: Path) -> None:
    with duckdb.connect(str(published), read_only=True) as connection:
        mode, release_dir, commit, version = connection.execute(
            "select source_mode, source_release, git_commit, project_version from marts.build_metadata"
        ).fetchone()
        files = connection.execute(
            "select source_table, source_file, size_bytes, sha256, num_staged_rows from marts.build_sources"
        ).fetchall()
        checks = connection.execute(
            "select count(*), count(*) filter (where has_passed) from marts.data_quality_checks"
        ).fetchone()
    assert (mode, release_dir) == ("release", str(good_release))
    # the publisher records the commit it built (prod target); the version is the project's
    assert commit.removesuffix("-dirty") == git_commit(REPO_ROOT).removesuffix("-dirty")
    assert version == metadata.version("mimic-segments")
    assert len(files) == 6
    for table, path, size, digest, rows in files:
        file = Path(path)
        assert file.parent.parent == good_release and file.name == f"{table}.csv.gz"
        assert (size, digest) == (file.stat().st_size, sha256(file))
        with gzip.open(file, "rt") as handle:
            assert rows == sum(1 for _ in handle) - 1
    # 11 volume, 5 plausibility, 3 consistency checks (docs block data_quality_checks)
    assert checks == (19, 19)


def test_a_reader_keeps_reading_during_and_after_a_rebuild(
    published: Path, good_release: Path, work: Path
) -> None:
    before = build_id_seen_by_a_new_reader(published)
    engine = sqlalchemy.create_engine(
        f"duckdb:///{published}", connect_args={"read_only": True}, poolclass=sqlalchemy.pool.NullPool
    )
    query = sqlalchemy.text("select build_id from marts.build_metadata")
    with engine.connect() as reader:
        assert reader.execute(query).scalar_one() == before
        # the rebuild runs while the reader holds the database open (no lock error)
        after, _ = publish_release(work, published, good_release, "rebuild")
        assert reader.execute(query).scalar_one() == before
    engine.dispose()
    assert after is not None and after != before
    assert build_id_seen_by_a_new_reader(published) == after
    assert build_id_seen_by_a_new_reader(duckdb_file.Paths.for_database(published).previous) == before


@pytest.mark.parametrize(
    "file",
    [
        # a diagnoses file holding only its header
        "hosp/diagnoses_icd.csv.gz",
        # an empty core table
        "icu/icustays.csv.gz",
    ],
)
def test_a_header_only_file_fails_the_build(
    published: Path, good_release: Path, work: Path, file: str
) -> None:
    name = Path(file).name.removesuffix(".csv.gz")
    release = defective_copy(good_release, work, f"header-only {name}")
    rewrite(release / file, lambda lines: lines[:1])
    message = failed_build(work, published, release, f"header-only-{name}")
    # the staging model of the empty table stops the build, naming the file (issue 32)
    assert f"- model stg_mimic__{name}: error" in message
    assert f"file:   {release}/{file}" in message
    assert f"MIMIC-IV table {name} has no rows: {release}/{file} holds no data rows" in message
    assert "- test " not in message


@pytest.fixture(scope="module")
def absurd_stay(good_release: Path, work: Path) -> tuple[Path, int]:
    """The release with its first admission discharged three thousand years after admission."""
    release = defective_copy(good_release, work, "absurd stay")
    path = release / "hosp" / "admissions.csv.gz"
    with gzip.open(path, "rt") as handle:
        header, first = handle.readline().rstrip("\n").split(","), handle.readline().rstrip("\n").split(",")

    def stretch(lines: list[str]) -> list[str]:
        fields = lines[1].rstrip("\n").split(",")
        fields[header.index("dischtime")] = "5190-01-01 00:00:00"
        return [lines[0], ",".join(fields) + "\n", *lines[2:]]

    rewrite(path, stretch)
    return release, int(first[header.index("hadm_id")])


def test_a_stay_of_thousands_of_years_fails_the_build(
    published: Path, absurd_stay: tuple[Path, int], work: Path
) -> None:
    release, hadm_id = absurd_stay
    message = failed_build(work, published, release, "absurd-stay")
    assert "check_name=hospital_stay_is_physically_possible," in message
    assert "column_name=length_of_stay_days," in message
    assert f"first_failing_keys=hadm_id={hadm_id}," in message
    assert "failing_rows=1," in message
    assert "where length_of_stay_days > 3650" in message


def test_quarantine_leaves_the_defective_admission_out_and_publishes(
    absurd_stay: tuple[Path, int], work: Path
) -> None:
    release, hadm_id = absurd_stay
    database = work / "quarantine.duckdb"
    env = env_for(work, "quarantine", release)
    env["DBT_VARS"] = "{quarantine_row_defects: true}"
    out = io.StringIO()
    assert duckdb_file.build(REPO_ROOT, database, SELECT, release=True, env=env, out=out) is not None
    assert "PASS=" in out.getvalue() and "WARN=1 ERROR=0" in out.getvalue()
    with duckdb.connect(str(database), read_only=True) as connection:
        quarantined = connection.execute(
            "select hadm_id, reasons from audit.stg_mimic__quarantined_admissions"
        ).fetchall()
        left_in = connection.execute(
            "select (select count(*) from staging.stg_mimic__admissions where hadm_id = $1)"
            " + (select count(*) from staging.stg_mimic__diagnoses_icd where hadm_id = $1)",
            [hadm_id],
        ).fetchone()
        staged = connection.execute("select count(*) from staging.stg_mimic__admissions").fetchone()
        check = connection.execute(
            "select severity, num_failing_rows, first_failing_keys, has_passed from marts.data_quality_checks"
            " where check_name = 'admissions_quarantined'"
        ).fetchone()
    with gzip.open(release / "hosp" / "admissions.csv.gz", "rt") as handle:
        file_rows = sum(1 for _ in handle) - 1
    assert len(quarantined) == 1 and quarantined[0][0] == hadm_id
    assert quarantined[0][1].startswith(f"{release}/hosp/admissions.csv.gz: hospital stay of 1")
    assert left_in == (0,)
    assert staged == (file_rows - 1,)
    assert check == ("warn", 1, f"hadm_id={hadm_id}", False)


def test_a_conversion_error_names_the_file(published: Path, good_release: Path, work: Path) -> None:
    release = defective_copy(good_release, work, "bad timestamp")
    path = release / "hosp" / "admissions.csv.gz"

    def corrupt(lines: list[str]) -> list[str]:
        header = lines[0].rstrip("\n").split(",")
        fields = lines[3].rstrip("\n").split(",")
        fields[header.index("admittime")] = "not a time"
        return [*lines[:3], ",".join(fields) + "\n", *lines[4:]]

    rewrite(path, corrupt)
    message = failed_build(work, published, release, "conversion")
    assert "- model stg_mimic__admissions: error" in message
    assert f"file:   {path}" in message
    assert "Conversion Error" in message and "not a time" in message


def test_two_builds_at_once_the_second_is_refused(published: Path, good_release: Path, work: Path) -> None:
    env = env_for(work, "second", good_release)
    env["MIMIC_SEGMENTS_DB"] = str(published)
    before = sha256(published)
    with duckdb_file.build_lock(duckdb_file.Paths.for_database(published)):
        result = subprocess.run(
            [sys.executable, "-m", "mimic_segments.publishing.publish", "build", "--release"],
            cwd=REPO_ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
    assert result.returncode == 3
    assert f"Another build of {published} is running (pid {os.getpid()}" in result.stderr
    assert sha256(published) == before


def test_dbt_before_the_data_step_names_the_make_target(tmp_path: Path) -> None:
    """An interrupted data step: the reference seed's manifest exists but not its CSV."""
    project = tmp_path / "project"
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout.split("\0")
    for name in filter(None, tracked):
        if (REPO_ROOT / name).is_file():
            (project / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO_ROOT / name, project / name)
    # the demo step finished; the reference step was interrupted after its manifest
    shutil.copytree(REPO_ROOT / "seeds" / "mimic_demo", project / "seeds" / "mimic_demo")
    (project / dbt_run.REFERENCE_MANIFEST).parent.mkdir(parents=True, exist_ok=True)
    (project / dbt_run.REFERENCE_MANIFEST).write_text("{}")
    env = dict(os.environ, DBT_PROFILES_DIR=str(project), DBT_SEND_ANONYMOUS_USAGE_STATS="false")
    with pytest.raises(errors.PublishError) as failure:
        duckdb_file.build(
            project, tmp_path / "db.duckdb", ["--select", "stg_mimic__patients"], env=env, out=io.StringIO()
        )
    assert (
        "needs hcup_chronic_condition_indicators, which the data step writes into seeds/: run `make data`"
        in str(failure.value)
    )
    assert not (tmp_path / "db.duckdb").exists()
