"""PostgreSQL gives the same marts and segments as DuckDB, patient by patient, and publishes
by schema swap.

The build is `make build-postgres`'s: the SQL layer, the segmentation fit outside dbt
(mimic_segments.segmentation.warehouse), the SQL scorer and the segment marts, into candidate
schemas swapped in when every test passed (mimic_segments.publishing.schema_swap).

Needs a PostgreSQL server (`make test-postgres` starts a throwaway one with
scripts/local_postgres.sh and runs this module). Without one the module is skipped, unless
MIMIC_SEGMENTS_REQUIRE_POSTGRES=1 (set by `make test-postgres` and CI), where that is a failure.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import pytest
from conftest import REPO_ROOT, assert_same_values, dbt_result
from engine_comparison import (
    COMPARED,
    DEMO_ROWS,
    SEGMENT_MARTS,
    SEGMENT_ROWS,
    frame_from_duckdb,
    schema_in_duckdb,
)
from postgres_helpers import REQUIRED, connect, frame_from_postgres, skip_without_server

from mimic_segments.publishing import failures, schema_swap

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

# dbt-postgres (the `postgres` extra) brings psycopg2; without it, skip unless required
if not REQUIRED:
    pytest.importorskip("psycopg2")

ROWS = {**DEMO_ROWS, **SEGMENT_ROWS}
BI_ROLE = "mimic_segments_bi_reader"


@pytest.fixture(scope="module")
def postgres_built(built: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    skip_without_server()
    work: Path = tmp_path_factory.mktemp("postgres")
    # the role a BI tool connects as: the build grants it the schema `marts` (var bi_reader_roles)
    with connect() as connection, connection.cursor() as cursor:
        cursor.execute(f"select 1 from pg_roles where rolname = '{BI_ROLE}'")
        if cursor.fetchone() is None:
            cursor.execute(f"create role {BI_ROLE} nologin")
    env = dict(
        built,
        DBT_TARGET_PATH=str(work / "target"),
        DBT_LOG_PATH=str(work / "logs"),
        DBT_VARS=f"{{bi_reader_roles: [{BI_ROLE}]}}",
    )
    result = publish_on_postgres(env, "build")
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    # both dbt builds passed every test without a warning
    assert result.stdout.count("ERROR=0") == 2 and result.stdout.count(" WARN=0 ") == 2, result.stdout[-3000:]
    return env


def publish_on_postgres(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m mimic_segments.publishing.publish --target postgres <args>`, as make runs it."""
    return subprocess.run(
        [sys.executable, "-m", "mimic_segments.publishing.publish", "--target", "postgres", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.parametrize("table", sorted({**COMPARED, **SEGMENT_MARTS}))
def test_postgres_matches_duckdb(postgres_built: dict[str, str], table: str) -> None:
    keys = {**COMPARED, **SEGMENT_MARTS}[table]
    on_duckdb = frame_from_duckdb(postgres_built["MIMIC_SEGMENTS_DEV_DB"], table, keys)
    schema = schema_in_duckdb(postgres_built["MIMIC_SEGMENTS_DEV_DB"], table)
    on_postgres = frame_from_postgres(table, keys, schema=schema)
    assert len(on_duckdb) == ROWS.get(table, len(on_duckdb)) and len(on_duckdb) > 0
    assert_same_values(on_duckdb, on_postgres)


def test_the_sql_scorer_assigns_every_patient_as_python_does(postgres_built: dict[str, str]) -> None:
    """The segment assignment across engines: DuckDB's Python scorer, PostgreSQL's SQL scorer."""
    with duckdb.connect(postgres_built["MIMIC_SEGMENTS_DEV_DB"], read_only=True) as connection:
        by_python = connection.execute(
            "select subject_id, cluster_id, distance_to_centroid from "
            "segmentation.patient_clusters order by 1"
        ).df()
    by_sql = frame_from_postgres("patient_nearest_centroid", ["subject_id"], schema="segmentation")
    by_sql = by_sql[["subject_id", "cluster_id", "distance_to_centroid"]].reset_index(drop=True)
    assert len(by_sql) == 100 and by_sql["cluster_id"].nunique() == 4
    assert_same_values(by_python, by_sql)


def _build_id(schema: str) -> str | None:
    with connect() as connection, connection.cursor() as cursor:
        cursor.execute("select 1 from pg_namespace where nspname = %s", (schema,))
        if cursor.fetchone() is None:
            return None
        cursor.execute(f"select build_id from {schema}.build_metadata")
        return cursor.fetchone()[0]


def test_the_build_published_its_candidate(postgres_built: dict[str, str]) -> None:
    published = _build_id("marts")
    assert published is not None and _build_id("marts__candidate") is None
    status = publish_on_postgres(postgres_built, "status")
    assert status.returncode == 0 and f"published: schema marts: build_id={published}" in status.stdout


def test_a_failed_build_leaves_the_published_schemas_untouched(postgres_built: dict[str, str]) -> None:
    before = _build_id("marts")
    # k = 1 passes dbt's tests of the SQL layer and fails the segmentation fit (step 2)
    result = publish_on_postgres(dict(postgres_built, DBT_VARS="{cluster_k: 1}"), "build")
    assert result.returncode == 1, result.stdout[-3000:]
    assert "The segmentation fit failed" in result.stderr and "k must be an integer >= 2" in result.stderr
    assert _build_id("marts") == before
    # the candidate is kept for inspection, up to the inputs the fit read
    with connect() as connection, connection.cursor() as cursor:
        cursor.execute("select count(*) from intermediate__candidate.int_patients_prepared_for_segmentation")
        assert cursor.fetchone()[0] == 100


def _values(cursor, schemas: list[str]) -> dict[str, int]:
    found = {}
    for schema in schemas:
        cursor.execute("select 1 from pg_namespace where nspname = %s", (schema,))
        if cursor.fetchone() is not None:
            cursor.execute(f"select v from {schema}.t")
            found[schema] = cursor.fetchone()[0]
    return found


@pytest.fixture()
def swap_schemas():
    """Schemas swaptest_a (published 1, candidate 2, previous 0) and swaptest_b (candidate 20)."""
    names = [f"swaptest_{s}{suffix}" for s in "ab" for suffix in ("", "__candidate", "__previous", "__swap")]
    skip_without_server()
    with connect() as connection, connection.cursor() as cursor:
        for schema, value in (
            ("swaptest_a", 1),
            ("swaptest_a__candidate", 2),
            ("swaptest_a__previous", 0),
            ("swaptest_b__candidate", 20),
        ):
            cursor.execute(f"create schema {schema}; create table {schema}.t as select {value} as v")
    yield names
    with connect() as connection, connection.cursor() as cursor:
        cursor.execute("drop view if exists public.swaptest_reader")
        for schema in names:
            cursor.execute(f"drop schema if exists {schema} cascade")


def test_the_swap_publishes_and_rollback_swaps_back(swap_schemas: list[str]) -> None:
    from mimic_segments.publishing import schema_swap

    schemas = ["swaptest_a", "swaptest_b"]
    # swaptest_b has no previous version: a rollback leaves it as published
    expected_after = [
        (
            lambda c: schema_swap.swap(c, schemas),
            {"swaptest_a": 2, "swaptest_a__previous": 1, "swaptest_b": 20},
        ),
        (
            lambda c: schema_swap.rollback_schemas(c, schemas),
            {"swaptest_a": 1, "swaptest_a__previous": 2, "swaptest_b": 20},
        ),
        (
            lambda c: schema_swap.rollback_schemas(c, schemas),
            {"swaptest_a": 2, "swaptest_a__previous": 1, "swaptest_b": 20},
        ),
    ]
    with connect() as connection:
        for step, expected in expected_after:
            step(connection)
            with connection.cursor() as cursor:
                assert _values(cursor, swap_schemas) == expected


def test_the_swap_refuses_to_drop_a_readers_view(swap_schemas: list[str]) -> None:
    from mimic_segments.publishing import schema_swap
    from mimic_segments.publishing.errors import PublishError

    with connect() as connection:
        with connection.cursor() as cursor:
            cursor.execute("create view public.swaptest_reader as select v from swaptest_a__previous.t")
        connection.commit()
        with pytest.raises(PublishError, match=r"public\.swaptest_reader"):
            schema_swap.swap(connection, ["swaptest_a", "swaptest_b"])
        with connection.cursor() as cursor:
            assert _values(cursor, swap_schemas) == {
                "swaptest_a": 1,
                "swaptest_a__candidate": 2,
                "swaptest_a__previous": 0,
                "swaptest_b__candidate": 20,
            }


def test_a_fan_out_fails_its_tests_and_keeps_their_rows_on_postgres(
    postgres_built: dict[str, str], tmp_path: Path
) -> None:
    """dbt's store_failures in a PostgreSQL transaction: a fan-out (one patient's row twice)
    breaks both reconciliations and the grain of the model; each test keeps its rows in its
    own audit table, the publish step's report names model, column and rows (read through the
    warehouse connection), and a passing run leaves those tables empty."""
    model = "int_admissions_aggregated_to_patients"
    target = tmp_path / "target"
    env = dict(postgres_built, DBT_TARGET_PATH=str(target), DBT_LOG_PATH=str(tmp_path / "logs"))

    def model_tests() -> subprocess.CompletedProcess[str]:
        return dbt_result(
            env,
            "test",
            "--target",
            "postgres",
            "--select",
            model,
            "--exclude",
            "test_type:unit test_type:singular",
        )

    def rows(relation: str, columns: str = "*") -> list[tuple]:
        with connect() as connection, connection.cursor() as cursor:
            cursor.execute(f"select {columns} from {relation} order by 1")
            return cursor.fetchall()

    with connect() as connection, connection.cursor() as cursor:
        cursor.execute(f"alter table intermediate.{model} rename to {model}__original")
        cursor.execute(
            f"create table intermediate.{model} as select * from intermediate.{model}__original union all"
            f" (select * from intermediate.{model}__original order by subject_id limit 1)"
        )
        cursor.execute(
            "select subject_id, num_admissions"
            f" from intermediate.{model}__original order by subject_id limit 1"
        )
        (patient, doubled) = cursor.fetchone()
    try:
        failed = model_tests()
        assert failed.returncode == 1, failed.stdout[-3000:]
        with connect() as connection:
            located = failures.locate_failures(
                target, None, first_rows=schema_swap.first_rows_reader(connection)
            )
        located = [node for node in located if node.model == model]
        by_column = {(node.name.split("_" + model)[0], node.column): node for node in located}
        assert sorted(by_column) == [
            ("column_sum_matches", "num_admissions"),
            ("column_sum_matches", "total_length_of_stay_days"),
            ("unique", "subject_id"),
        ]
        admissions = by_column[("column_sum_matches", "num_admissions")]
        assert rows(admissions.failures_relation or "", "model_total - compare_total") == [(doubled,)]
        grain = by_column[("unique", "subject_id")]
        assert rows(grain.failures_relation or "", "unique_field") == [(patient,)]
        report = grain.describe()
        assert f"model:  {model}" in report and "column: subject_id" in report
        assert f"unique_field={patient}, n_records=2" in report, report
    finally:
        with connect() as connection, connection.cursor() as cursor:
            cursor.execute(f"drop table intermediate.{model}")
            cursor.execute(f"alter table intermediate.{model}__original rename to {model}")
    passed = model_tests()
    assert passed.returncode == 0, passed.stdout[-3000:]
    for node in located:
        assert rows(node.failures_relation or "") == []


def test_a_null_is_refused_by_the_contract_on_postgres(
    postgres_built: dict[str, str], tmp_path: Path
) -> None:
    """PostgreSQL enforces the contract's not_null constraints: a staging model whose query
    yields a NULL in a constrained column fails, the published table is left as it was, and
    the report names the model, the column and the row's key."""
    model = "stg_mimic__patients"
    target = tmp_path / "target"
    env = dict(postgres_built, DBT_TARGET_PATH=str(target), DBT_LOG_PATH=str(tmp_path / "logs"))
    with connect() as connection, connection.cursor() as cursor:
        cursor.execute("select min(subject_id), count(*) from raw.patients")
        (patient, patients) = cursor.fetchone()
        cursor.execute("select anchor_year from raw.patients where subject_id = %s", (patient,))
        (anchor_year,) = cursor.fetchone()
        cursor.execute("update raw.patients set anchor_year = null where subject_id = %s", (patient,))
    try:
        failed = dbt_result(env, "run", "--target", "postgres", "--select", model)
        assert failed.returncode == 1, failed.stdout[-3000:]
        assert "violates not-null constraint" in failed.stdout
        with connect() as connection:
            (located,) = failures.locate_failures(
                target, None, first_rows=schema_swap.first_rows_reader(connection)
            )
            with connection.cursor() as cursor:
                cursor.execute(f"select count(*) from staging.{model} where anchor_year is null")
                assert cursor.fetchone() == (0,)
                cursor.execute(f"select count(*) from staging.{model}")
                assert cursor.fetchone() == (patients,)
        assert (located.name, located.column) == (model, "anchor_year")
        assert len(located.first_rows) == 1 and located.first_rows[0].startswith(f"subject_id={patient}, ")
    finally:
        with connect() as connection, connection.cursor() as cursor:
            cursor.execute(
                "update raw.patients set anchor_year = %s where subject_id = %s", (anchor_year, patient)
            )


def test_an_empty_seed_stops_its_staging_model_naming_the_file(
    postgres_built: dict[str, str], tmp_path: Path
) -> None:
    """A MIMIC-IV table with no rows fails its staging model on PostgreSQL too, with the file
    and "no rows" (the pre-hook check_mimic_table_has_rows), before the table is replaced."""
    env = dict(postgres_built, DBT_TARGET_PATH=str(tmp_path / "target"), DBT_LOG_PATH=str(tmp_path / "logs"))
    with connect() as connection, connection.cursor() as cursor:
        cursor.execute("alter table raw.patients rename to patients__original")
        cursor.execute("create table raw.patients (like raw.patients__original)")
    try:
        result = dbt_result(env, "run", "--target", "postgres", "--select", "stg_mimic__patients")
    finally:
        with connect() as connection, connection.cursor() as cursor:
            cursor.execute("drop table raw.patients")
            cursor.execute("alter table raw.patients__original rename to patients")
    assert result.returncode == 1, result.stdout[-3000:]
    assert (
        "MIMIC-IV table patients has no rows: seeds/mimic_demo/patients.csv holds no data rows"
        in result.stdout
    )
    with connect() as connection, connection.cursor() as cursor:
        cursor.execute("select count(*) from staging.stg_mimic__patients")
        assert cursor.fetchone()[0] == 100


def _as_bi_reader(sql: str) -> list[tuple[Any, ...]] | str:
    """``sql`` run as the BI role: its rows, or the error PostgreSQL refused it with."""
    import psycopg2

    with connect() as connection, connection.cursor() as cursor:
        cursor.execute(f"set role {BI_ROLE}")
        try:
            cursor.execute(sql)
        except psycopg2.errors.InsufficientPrivilege as refused:
            return str(refused).splitlines()[0]
        return cursor.fetchall()


def test_the_bi_role_reads_the_bi_schema_after_a_rebuild_and_nothing_else(
    postgres_built: dict[str, str],
) -> None:
    """dbt's grants give the role SELECT on each BI table and view, and the on-run-end hook
    USAGE on the candidate schema: a rebuild publishes new schemas by renaming, and the role
    reads them with no grant by hand; staging, intermediate, the seeds and the segmentation
    internals stay closed to it."""
    first = _build_id("marts")
    rebuilt = publish_on_postgres(postgres_built, "build")
    assert rebuilt.returncode == 0, rebuilt.stdout[-3000:] + rebuilt.stderr[-3000:]
    second = _build_id("marts")
    assert second not in (None, first)
    with connect() as connection, connection.cursor() as cursor:
        cursor.execute(
            "select table_schema, table_name from information_schema.tables"
            " where table_schema in ('marts', 'segmentation', 'intermediate', 'staging', 'raw')"
        )
        relations = cursor.fetchall()
    bi = [name for schema, name in relations if schema == "marts"]
    assert {"segments", "outreach_list", "segment_return_curves_primary", "build_metadata"} <= set(bi)
    for name in bi:
        assert isinstance(_as_bi_reader(f"select count(*) from marts.{name}"), list), name
    assert _as_bi_reader("select build_id from marts.build_metadata") == [(second,)]
    closed = {schema: name for schema, name in relations if schema != "marts"}
    assert {"segmentation", "intermediate", "staging"} <= set(closed)
    for schema, name in closed.items():
        refused = _as_bi_reader(f"select count(*) from {schema}.{name}")
        assert refused == f"permission denied for schema {schema}", (schema, refused)
