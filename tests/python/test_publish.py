"""Write, audit, publish: the candidate/rename cycle of mimic_segments.publishing.duckdb_file,
with a stand-in dbt.

The stand-in writes a small DuckDB file where MIMIC_SEGMENTS_CANDIDATE_DB points (as dbt-duckdb
does on the profile's prod target, which the publisher selects) and exits 0 or 1, so these
tests measure the publishing itself in well under a second each: what readers see before,
during and after a build (DuckDB directly and through SQLAlchemy's duckdb_engine, as BI tools
connect), a failed build leaving the published file byte for byte as it was, two builds at
once, rollback, and paths with quotes, spaces and non-ASCII characters. The same cycle around
the real dbt build is exercised by test_bad_inputs.py.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
import sqlalchemy

from mimic_segments.publishing import dbt_run, duckdb_file, errors, failures, publish

READ_BUILD_ID = """
import sys
import time
import duckdb
with duckdb.connect(sys.argv[1], read_only=True) as connection:
    print(connection.execute("select build_id from marts.build_metadata").fetchone()[0])
"""

FAKE_DBT = """
import os, sys
import duckdb
reader = os.environ.get("FAKE_READER_DB")
if reader:  # a BI reader connecting while the build runs
    with duckdb.connect(reader, read_only=True) as connection:
        seen = connection.execute("select build_id from marts.build_metadata").fetchone()[0]
    print(f"reader during build saw {seen}")
with duckdb.connect(os.environ["MIMIC_SEGMENTS_CANDIDATE_DB"]) as connection:
    connection.execute("create schema marts")
    connection.execute("create schema segmentation")
    build_id = os.environ["FAKE_BUILD_ID"]
    connection.execute("create table marts.build_metadata as select ? as build_id", [build_id])
    connection.execute(
        "create table segmentation.patient_features as select range as subject_id from range(100)"
    )
print("args:", " ".join(sys.argv[1:]))
sys.exit(1 if os.environ.get("FAKE_FAIL") else 0)
"""


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    """A project directory whose data step has run (its two manifests exist)."""
    root = tmp_path / "project"
    for manifest in (dbt_run.DEMO_MANIFEST, dbt_run.REFERENCE_MANIFEST):
        (root / manifest).parent.mkdir(parents=True, exist_ok=True)
        (root / manifest).write_text("{}")
    return root


@pytest.fixture()
def fake_dbt(tmp_path: Path) -> list[str]:
    script = tmp_path / "fake_dbt.py"
    script.write_text(FAKE_DBT)
    return [sys.executable, str(script)]


def run_build(
    project: Path, database: Path, fake_dbt: list[str], build_id: str, **env: str
) -> tuple[str | None, str]:
    out = io.StringIO()
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("FAKE_")}
    full_env.update(FAKE_BUILD_ID=build_id, **env)
    build_id_published = duckdb_file.build(project, database, env=full_env, dbt=fake_dbt, out=out)
    return build_id_published, out.getvalue()


def build_id_of(database: Path) -> str:
    """The build id a new reader sees: its own process, as a BI tool connects (within one
    process DuckDB shares the database a connection already holds open)."""
    result = subprocess.run(
        [sys.executable, "-c", READ_BUILD_ID, str(database)], capture_output=True, text=True, check=True
    )
    return result.stdout.strip()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_first_build_publishes_and_removes_the_candidate(project: Path, fake_dbt: list[str]) -> None:
    database = project / "mimic_segments.duckdb"
    build_id, output = run_build(project, database, fake_dbt, "build-1")
    assert build_id == "build-1"
    assert build_id_of(database) == "build-1"
    assert not (project / "mimic_segments.duckdb.candidate").exists()
    assert not Path(str(database) + ".wal").exists()
    assert f"Published {database} (build build-1)" in output
    # dbt builds on the profile's prod target, whose path is the candidate (profiles.yml)
    assert "args: build --target prod\n" in output
    # the candidate keeps the published file name (DuckDB names the catalog after it)
    assert f"Building candidate {database}.candidate/mimic_segments.duckdb" in output


def test_readers_keep_their_version_and_new_connections_get_the_new_one(
    project: Path, fake_dbt: list[str]
) -> None:
    database = project / "mimic_segments.duckdb"
    run_build(project, database, fake_dbt, "build-1")
    reader = duckdb.connect(str(database), read_only=True)
    try:
        assert reader.execute("select build_id from marts.build_metadata").fetchone() == ("build-1",)
        _, output = run_build(project, database, fake_dbt, "build-2", FAKE_READER_DB=str(database))
        # a second reader connected during the build, and the build did not fail on a lock
        assert "reader during build saw build-1" in output
        assert reader.execute("select build_id from marts.build_metadata").fetchone() == ("build-1",)
        assert build_id_of(database) == "build-2"
    finally:
        reader.close()
    assert build_id_of(duckdb_file.Paths.for_database(database).previous) == "build-1"


def test_bi_connection_through_sqlalchemy_before_during_and_after_a_rebuild(
    project: Path, fake_dbt: list[str]
) -> None:
    database = project / "mimic_segments.duckdb"
    run_build(project, database, fake_dbt, "build-1")
    query = sqlalchemy.text(
        "select build_id, (select count(*) from segmentation.patient_features) from marts.build_metadata"
    )
    engine = sqlalchemy.create_engine(
        f"duckdb:///{database}", connect_args={"read_only": True}, poolclass=sqlalchemy.pool.NullPool
    )
    with engine.connect() as before:
        assert before.execute(query).one() == ("build-1", 100)
        # during: the stand-in dbt connects read-only while it builds; after: the open
        # connection still reads build-1, a new one reads build-2
        _, output = run_build(project, database, fake_dbt, "build-2", FAKE_READER_DB=str(database))
        assert "reader during build saw build-1" in output
        assert before.execute(query).one() == ("build-1", 100)
    with engine.connect() as after:
        assert after.execute(query).one() == ("build-2", 100)
        # read-only: a BI connection cannot change the published file
        with pytest.raises(sqlalchemy.exc.DBAPIError, match="read-only"):
            after.execute(sqlalchemy.text("create table marts.scratch as select 1 as x"))
    engine.dispose()


def test_failed_build_leaves_the_published_file_unchanged_and_keeps_the_candidate(
    project: Path, fake_dbt: list[str]
) -> None:
    database = project / "mimic_segments.duckdb"
    run_build(project, database, fake_dbt, "build-1")
    before = sha256(database)
    with pytest.raises(errors.PublishError) as failure:
        run_build(project, database, fake_dbt, "build-2", FAKE_FAIL="1")
    message = str(failure.value)
    candidate = duckdb_file.Paths.for_database(database).candidate
    assert "Build failed (dbt exited 1); nothing was published." in message
    assert f"Published database {database}: unchanged." in message
    assert f"Candidate kept for inspection: {candidate}" in message
    assert sha256(database) == before
    assert build_id_of(candidate) == "build-2"
    assert not duckdb_file.Paths.for_database(database).previous.exists()


def test_a_second_build_at_the_same_time_is_refused(project: Path, fake_dbt: list[str]) -> None:
    database = project / "mimic_segments.duckdb"
    paths = duckdb_file.Paths.for_database(database)
    with duckdb_file.build_lock(paths), pytest.raises(errors.BuildLockedError) as refused:
        run_build(project, database, fake_dbt, "build-2")
    assert f"Another build of {database} is running (pid {os.getpid()}, since" in str(refused.value)
    assert str(paths.lock) in str(refused.value)
    assert not database.exists()
    # the lock is released with the first build: the next one runs
    assert run_build(project, database, fake_dbt, "build-3")[0] == "build-3"


def test_the_command_line_refuses_a_concurrent_build_with_exit_code_3(
    project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    database = project / "db.duckdb"
    monkeypatch.setenv("MIMIC_SEGMENTS_DB", str(database))
    monkeypatch.chdir(project)
    with duckdb_file.build_lock(duckdb_file.Paths.for_database(database)):
        assert publish.main(["build"]) == 3
    assert "Another build of" in capsys.readouterr().err


def test_rollback_swaps_the_published_and_previous_versions(project: Path, fake_dbt: list[str]) -> None:
    database = project / "mimic_segments.duckdb"
    run_build(project, database, fake_dbt, "build-1")
    run_build(project, database, fake_dbt, "build-2")
    paths = duckdb_file.Paths.for_database(database)
    duckdb_file.rollback(paths)
    assert (build_id_of(database), build_id_of(paths.previous)) == ("build-1", "build-2")
    duckdb_file.rollback(paths)
    assert (build_id_of(database), build_id_of(paths.previous)) == ("build-2", "build-1")


def test_status_names_the_published_and_previous_builds(
    project: Path, fake_dbt: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    database = project / "mimic_segments.duckdb"
    monkeypatch.setenv("MIMIC_SEGMENTS_DB", str(database))
    assert publish.main(["status"]) == 0
    paths = duckdb_file.Paths.for_database(database)
    assert capsys.readouterr().out == f"published: {database}: none\nprevious: {paths.previous}: none\n"
    run_build(project, database, fake_dbt, "build-1")
    run_build(project, database, fake_dbt, "build-2")
    assert duckdb_file.build_of(database) == {"build_id": "build-2"}
    assert publish.main(["status"]) == 0
    assert capsys.readouterr().out == (
        f"published: {database}: build_id=build-2\nprevious: {paths.previous}: build_id=build-1\n"
    )


def test_rollback_without_a_previous_version_says_so(tmp_path: Path) -> None:
    paths = duckdb_file.Paths.for_database(tmp_path / "x.duckdb")
    with pytest.raises(errors.PublishError, match="No previous version to roll back to"):
        duckdb_file.rollback(paths)


def test_paths_with_quotes_spaces_and_non_ascii_characters(tmp_path: Path, fake_dbt: list[str]) -> None:
    project = tmp_path / 'it\'s a "project" café'
    for manifest in (dbt_run.DEMO_MANIFEST, dbt_run.REFERENCE_MANIFEST):
        (project / manifest).parent.mkdir(parents=True, exist_ok=True)
        (project / manifest).write_text("{}")
    database = project / "données 'BI'.duckdb"
    run_build(project, database, fake_dbt, "build-1")
    run_build(project, database, fake_dbt, "build-2")
    assert build_id_of(database) == "build-2"
    assert build_id_of(duckdb_file.Paths.for_database(database).previous) == "build-1"


def test_missing_data_step_names_the_make_target(tmp_path: Path, fake_dbt: list[str]) -> None:
    with pytest.raises(errors.PublishError) as failure:
        duckdb_file.build(tmp_path, tmp_path / "db.duckdb", dbt=fake_dbt, out=io.StringIO())
    assert str(failure.value) == (
        "The data step has not run (or was interrupted): missing seeds/mimic_demo/.manifest.json, "
        "seeds/reference/.manifest.json. Run `make data` (or `make build`, which runs it first), "
        "then build again."
    )
    # full-release mode needs only the reference seed
    (tmp_path / dbt_run.REFERENCE_MANIFEST).parent.mkdir(parents=True)
    (tmp_path / dbt_run.REFERENCE_MANIFEST).write_text("{}")
    dbt_run.check_data_step(tmp_path, release=True)
    with pytest.raises(
        errors.PublishError, match=r"missing seeds/mimic_demo/\.manifest\.json\. Run `make data`"
    ):
        dbt_run.check_data_step(tmp_path, release=False)


def test_dbt_missing_node_message_is_explained() -> None:
    output = (
        "Compilation Error\n  Model 'model.mimic_segments.int_diagnoses_classified_chronic' "
        "(models/intermediate/int_diagnoses_classified_chronic.sql) depends on a node named "
        "'hcup_chronic_condition_indicators' which was not found"
    )
    assert failures.explain_dbt_output(output) == [
        "model.mimic_segments.int_diagnoses_classified_chronic needs hcup_chronic_condition_indicators, "
        "which the data step writes into seeds/: run `make data` (or `make build`), then build again."
    ]
    assert failures.explain_dbt_output("Done. PASS=3 WARN=0 ERROR=0") == []


def test_a_log_left_by_a_direct_writer_blocks_publishing(project: Path, fake_dbt: list[str]) -> None:
    database = project / "mimic_segments.duckdb"
    run_build(project, database, fake_dbt, "build-1")
    Path(str(database) + ".wal").write_bytes(b"stale")
    before = sha256(database)
    with pytest.raises(errors.PublishError, match=r"\.wal exists: a process wrote to the published database"):
        run_build(project, database, fake_dbt, "build-2")
    assert sha256(database) == before


def test_release_vars_are_json_with_the_path_as_given() -> None:
    env = {"MIMIC_RELEASE_DIR": '/data/it\'s "3.1" é', "MIMIC_LAST_DATA_YEAR": "2022"}
    assert dbt_run.release_vars(env) == (
        '{"mimic_source_mode": "release", "mimic_release_dir": "/data/it\'s \\"3.1\\" é", '
        '"mimic_release_format": "csv", "mimic_last_data_year": 2022}'
    )
    with pytest.raises(errors.PublishError, match="set MIMIC_RELEASE_DIR"):
        dbt_run.release_vars({})


def test_a_null_refused_by_a_constraint_is_reported_with_its_column_and_rows(tmp_path: Path) -> None:
    """An enforced contract's not_null constraint fails the model with the database's message,
    which names the table and column but no row: the report adds the rows (and their keys)
    the model's query would have inserted with that NULL."""
    database = tmp_path / "candidate.duckdb"
    with duckdb.connect(str(database)) as db:
        db.execute(
            "create table admissions as"
            " select * from (values (1, 'a'), (2, null), (3, null)) t(hadm_id, insurance)"
        )
    # the messages of DuckDB and PostgreSQL both name the column
    assert (
        failures.refused_null_column(
            "Runtime Error in model stg_x (models/stg_x.sql)\n"
            "  Constraint Error: NOT NULL constraint failed: stg_x__dbt_tmp.insurance"
        )
        == "insurance"
    )
    assert (
        failures.refused_null_column(
            'null value in column "insurance" of relation "stg_x__dbt_tmp" violates not-null constraint'
        )
        == "insurance"
    )
    assert failures.refused_null_column("Conversion Error: not a time") is None
    target = tmp_path / "target"
    target.mkdir()
    model = "model.mimic_segments.stg_x"
    (target / "manifest.json").write_text(
        json.dumps({"nodes": {model: {"name": "stg_x", "resource_type": "model"}}, "sources": {}})
    )
    (target / "run_results.json").write_text(
        json.dumps(
            {
                "results": [
                    {
                        "unique_id": model,
                        "status": "error",
                        "message": "Constraint Error: NOT NULL constraint failed: stg_x__dbt_tmp.insurance",
                        "compiled_code": "select hadm_id, insurance from admissions;",
                    }
                ]
            }
        )
    )
    (failed,) = failures.locate_failures(target, database)
    assert failed.column == "insurance"
    assert failed.first_rows == ("hadm_id=2, insurance=null", "hadm_id=3, insurance=null")
    report = failed.describe()
    assert "- model stg_x: error" in report and "column: insurance" in report
    assert "hadm_id=2, insurance=null" in report


def test_a_model_level_tests_column_is_its_column_name_argument() -> None:
    """dbt sets a test's column_name only when it is declared under a column; a model-level
    reconciliation names its column in its arguments, and the report shows that one."""
    under_a_column = {"column_name": "subject_id", "test_metadata": {"name": "unique", "kwargs": {}}}
    reconciliation = {
        "column_name": None,
        "test_metadata": {"name": "column_sum_matches", "kwargs": {"column_name": "num_admissions"}},
    }
    row_rule = {
        "column_name": None,
        "test_metadata": {"name": "expression_is_true", "kwargs": {"expression": "a"}},
    }
    assert failures.tested_column(under_a_column) == "subject_id"
    assert failures.tested_column(reconciliation) == "num_admissions"
    assert failures.tested_column(row_rule) is None
    assert failures.tested_column({"resource_type": "model"}) is None


def test_failures_of_an_earlier_dbt_run_are_not_reported_as_this_one(
    project: Path, fake_dbt: list[str]
) -> None:
    target = project / "target"
    target.mkdir()
    (target / "manifest.json").write_text('{"nodes": {}, "sources": {}}')
    (target / "run_results.json").write_text(
        '{"results": [{"unique_id": "test.mimic_segments.stale_test", "status": "fail", "message": "old"}]}'
    )
    os.utime(target / "run_results.json", (0, 0))
    database = project / "mimic_segments.duckdb"
    with pytest.raises(errors.PublishError) as failure:
        run_build(project, database, fake_dbt, "build-1", FAKE_FAIL="1", DBT_TARGET_PATH=str(target))
    assert "stale_test" not in str(failure.value)
    # the same file, written during this build, is reported
    os.utime(target / "run_results.json")
    assert [node.name for node in failures.locate_failures(target, database, since=time.time() - 60)] == [
        "stale_test"
    ]


def test_a_killed_build_leaves_no_stale_lock_and_a_rerun_publishes(project: Path, tmp_path: Path) -> None:
    slow_dbt = tmp_path / "slow_dbt.py"
    slow_dbt.write_text("import time\ntime.sleep(60)\n")
    database = project / "mimic_segments.duckdb"
    env = {**os.environ, "MIMIC_SEGMENTS_DB": str(database)}
    code = (
        "import sys; from pathlib import Path; from mimic_segments.publishing import duckdb_file; "
        f"duckdb_file.build(Path({str(project)!r}), {str(database)!r}, "
        f"dbt=[sys.executable, {str(slow_dbt)!r}])"
    )
    build = subprocess.Popen(
        [sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, start_new_session=True
    )
    assert build.stdout is not None
    assert build.stdout.readline().startswith(b"Building candidate")  # the lock is held
    os.killpg(build.pid, signal.SIGKILL)  # the build and its dbt, as a killed terminal would
    build.wait()
    lock = duckdb_file.Paths.for_database(database).lock
    assert "pid" in lock.read_text()  # the text stays ...
    # ... but the kernel releases the lock as it tears the killed processes down (measured:
    # free at once, or within half a second on a loaded machine)
    with open(lock) as handle:
        for _ in range(50):
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                fcntl.flock(handle, fcntl.LOCK_UN)
                break
            except BlockingIOError:
                time.sleep(0.1)
        else:
            pytest.fail("the lock of a killed build was not released within 5 s")
    script = tmp_path / "fake_dbt.py"
    script.write_text(FAKE_DBT)
    # the rerun runs and publishes
    assert (
        run_build(project, database, [sys.executable, str(script)], "build-after-kill")[0]
        == "build-after-kill"
    )
    assert build_id_of(database) == "build-after-kill"
