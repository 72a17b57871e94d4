"""Warehouse mode reads MIMIC-IV tables loaded in PostgreSQL the way mimic-code loads them.

The demo's CSVs are loaded with COPY into a database of their own on the test server, in
mimic-code's layout (mimic-iv/buildmimic/postgres/create.sql: schemas mimiciv_hosp and
mimiciv_icu, its column types: INTEGER ids, SMALLINT flags and ages, CHAR(7) ICD codes). The SQL
layer built from there in `mimic_source_mode: warehouse` must give the DuckDB demo build's
patient_features and admission_comorbidities, value for value. A second database holds broken
copies (views over the good tables) for the pre-flight check and the data-quality checks.

Needs a PostgreSQL server, like test_postgres.py (`make test-postgres` starts one).
"""

from __future__ import annotations

import csv
import json
import subprocess
from pathlib import Path

import pytest
from conftest import DBT, REPO_ROOT, assert_same_values, run_dbt
from engine_comparison import COMPARED, DEMO_ROWS, frame_from_duckdb, schema_in_duckdb
from postgres_helpers import REQUIRED, connect, frame_from_postgres, skip_without_server

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

if not REQUIRED:
    pytest.importorskip("psycopg2")

# Databases of their own, so that nothing clashes with test_postgres.py's build.
WAREHOUSE = "mimic_segments_warehouse"
DEFECTS = "mimic_segments_warehouse_defects"
SQL_LAYER = ("--target", "postgres", "--exclude", "path:python_models+")

# mimic-code's PostgreSQL types for the columns of the five tables the project reads.
MIMIC_CODE_TABLES = {
    "mimiciv_hosp.patients": {
        "subject_id": "integer not null",
        "gender": "char(1) not null",
        "anchor_age": "smallint",
        "anchor_year": "smallint not null",
        "anchor_year_group": "varchar(20) not null",
        "dod": "date",
    },
    "mimiciv_hosp.admissions": {
        "subject_id": "integer not null",
        "hadm_id": "integer not null",
        "admittime": "timestamp not null",
        "dischtime": "timestamp",
        "deathtime": "timestamp",
        "admission_type": "varchar(40) not null",
        "admit_provider_id": "varchar(10)",
        "admission_location": "varchar(60)",
        "discharge_location": "varchar(60)",
        "insurance": "varchar(255)",
        "language": "varchar(25)",
        "marital_status": "varchar(30)",
        "race": "varchar(80)",
        "edregtime": "timestamp",
        "edouttime": "timestamp",
        "hospital_expire_flag": "smallint",
    },
    "mimiciv_hosp.diagnoses_icd": {
        "subject_id": "integer not null",
        "hadm_id": "integer not null",
        "seq_num": "integer not null",
        "icd_code": "char(7)",
        "icd_version": "smallint",
    },
    "mimiciv_hosp.d_icd_diagnoses": {
        "icd_code": "char(7) not null",
        "icd_version": "smallint not null",
        "long_title": "varchar(255)",
    },
    "mimiciv_hosp.transfers": {
        "subject_id": "integer not null",
        "hadm_id": "integer",
        "transfer_id": "integer not null",
        "eventtype": "varchar(10)",
        "careunit": "varchar(255)",
        "intime": "timestamp",
        "outtime": "timestamp",
    },
    "mimiciv_icu.icustays": {
        "subject_id": "integer not null",
        "hadm_id": "integer not null",
        "stay_id": "integer not null",
        "first_careunit": "varchar(255)",
        "last_careunit": "varchar(255)",
        "intime": "timestamp",
        "outtime": "timestamp",
        "los": "float",
    },
}
HOSP_TABLES = ["patients", "admissions", "diagnoses_icd", "d_icd_diagnoses", "transfers"]


def create_database(name: str) -> None:
    """A new, empty database ``name`` (an old one of that name is dropped)."""
    connection = connect()
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(f"drop database if exists {name} with (force)")
        cursor.execute(f"create database {name}")
    connection.close()


def load_mimic_code_layout(database: str, demo_dir: Path) -> None:
    """The demo's five tables in ``database``, as mimic-code's PostgreSQL build loads them."""
    with connect(database) as connection, connection.cursor() as cursor:
        cursor.execute("create schema mimiciv_hosp; create schema mimiciv_icu")
        for table, columns in MIMIC_CODE_TABLES.items():
            cursor.execute(f"create table {table} ({', '.join(f'{c} {t}' for c, t in columns.items())})")
            path = demo_dir / f"{table.split('.')[1]}.csv"
            with path.open(newline="") as handle:
                header = next(csv.reader(handle))
                handle.seek(0)
                cursor.copy_expert(
                    f"copy {table} ({', '.join(header)}) from stdin with (format csv, header true)", handle
                )


def dbt_env(built: dict[str, str], work: Path, database: str, name: str) -> dict[str, str]:
    return dict(
        built,
        MIMIC_SEGMENTS_PG_DATABASE=database,
        DBT_TARGET_PATH=str(work / f"target-{name}"),
        DBT_LOG_PATH=str(work / f"logs-{name}"),
    )


def warehouse_vars(**overrides: str | bool) -> str:
    return json.dumps({"mimic_source_mode": "warehouse", **overrides})


def failing_dbt(env: dict[str, str], *args: str) -> str:
    """Run dbt, which must fail; its output."""
    result = subprocess.run(
        [str(DBT), *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode != 0, f"dbt {' '.join(args)} passed:\n{result.stdout[-3000:]}"
    return result.stdout + result.stderr


def query(database: str, sql: str) -> list[tuple]:
    with connect(database) as connection, connection.cursor() as cursor:
        cursor.execute(sql)
        return cursor.fetchall()


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("warehouse")


@pytest.fixture(scope="module")
def warehouse_built(built: dict[str, str], work: Path) -> dict[str, str]:
    """The SQL layer built in warehouse mode from the demo loaded in mimic-code's layout."""
    skip_without_server()
    create_database(WAREHOUSE)
    load_mimic_code_layout(WAREHOUSE, REPO_ROOT / "seeds" / "mimic_demo")
    env = dbt_env(built, work, WAREHOUSE, "good")
    result = run_dbt(env, "build", *SQL_LAYER, "--vars", warehouse_vars())
    assert "ERROR=0" in result.stdout and "WARN=0" in result.stdout, result.stdout[-3000:]
    assert "MIMIC-IV warehouse tables: mimiciv_hosp, mimiciv_icu in mimic_segments_warehouse: 6 tables" in (
        result.stdout
    )
    return env


@pytest.fixture(scope="module")
def defects(built: dict[str, str]) -> str:
    """A second copy of the demo in mimic-code's layout, for broken views over it."""
    skip_without_server()
    create_database(DEFECTS)
    load_mimic_code_layout(DEFECTS, REPO_ROOT / "seeds" / "mimic_demo")
    return DEFECTS


def views(database: str, schema: str, selects: dict[str, str]) -> None:
    """Schema ``schema`` of ``database`` holding one view per table: ``selects[table]``."""
    with connect(database) as connection, connection.cursor() as cursor:
        cursor.execute(f"create schema {schema}")
        for table, select in selects.items():
            cursor.execute(f"create view {schema}.{table} as {select}")


def test_the_loaded_tables_have_mimic_codes_types(warehouse_built: dict[str, str]) -> None:
    types = dict(
        query(
            WAREHOUSE,
            "select table_name || '.' || column_name, data_type from information_schema.columns"
            " where table_schema in ('mimiciv_hosp', 'mimiciv_icu')",
        )
    )
    assert types["diagnoses_icd.icd_code"] == "character"
    assert types["patients.subject_id"] == "integer"
    assert types["patients.anchor_age"] == "smallint"
    assert types["icustays.los"] == "double precision"
    counts = query(
        WAREHOUSE,
        "select (select count(*) from mimiciv_hosp.patients), (select count(*) from mimiciv_hosp.admissions),"
        " (select count(*) from mimiciv_hosp.diagnoses_icd), (select count(*) from mimiciv_icu.icustays)",
    )
    assert counts == [(100, 275, 4506, 140)]


@pytest.mark.parametrize("table", sorted(COMPARED))
def test_warehouse_mode_matches_the_seeded_demo(warehouse_built: dict[str, str], table: str) -> None:
    keys = COMPARED[table]
    on_duckdb = frame_from_duckdb(warehouse_built["MIMIC_SEGMENTS_DEV_DB"], table, keys)
    schema = schema_in_duckdb(warehouse_built["MIMIC_SEGMENTS_DEV_DB"], table)
    on_warehouse = frame_from_postgres(table, keys, database=WAREHOUSE, schema=schema)
    assert len(on_duckdb) == DEMO_ROWS[table]
    assert_same_values(on_duckdb, on_warehouse)


def test_build_metadata_names_the_warehouse_relations(warehouse_built: dict[str, str]) -> None:
    assert query(WAREHOUSE, "select source_mode, source_release from marts.build_metadata") == [
        ("warehouse", f"{WAREHOUSE}.mimiciv_hosp, {WAREHOUSE}.mimiciv_icu")
    ]
    sources = query(
        WAREHOUSE,
        "select source_table, source_file, size_bytes, sha256, num_staged_rows from marts.build_sources"
        " order by source_table",
    )
    assert sources == [
        ("admissions", f"{WAREHOUSE}.mimiciv_hosp.admissions", None, None, 275),
        ("d_icd_diagnoses", f"{WAREHOUSE}.mimiciv_hosp.d_icd_diagnoses", None, None, sources[1][4]),
        ("diagnoses_icd", f"{WAREHOUSE}.mimiciv_hosp.diagnoses_icd", None, None, 4506),
        ("icustays", f"{WAREHOUSE}.mimiciv_icu.icustays", None, None, 140),
        ("patients", f"{WAREHOUSE}.mimiciv_hosp.patients", None, None, 100),
        ("transfers", f"{WAREHOUSE}.mimiciv_hosp.transfers", None, None, 1190),
    ]
    assert sources[1][4] > 100_000  # the whole ICD-9 + ICD-10 dictionary


def test_preflight_names_every_missing_table_column_and_bad_type(
    defects: str, built: dict[str, str], work: Path
) -> None:
    views(
        defects,
        "broken_hosp",
        {
            # anchor_age missing
            "patients": "select subject_id, gender, anchor_year, anchor_year_group, dod"
            " from mimiciv_hosp.patients",
            # admission times loaded as text
            "admissions": "select subject_id, hadm_id, admittime::text as admittime, dischtime, deathtime,"
            " admission_type, admit_provider_id, admission_location, discharge_location, insurance,"
            " language, marital_status, race, edregtime, edouttime, hospital_expire_flag"
            " from mimiciv_hosp.admissions",
            "diagnoses_icd": "select * from mimiciv_hosp.diagnoses_icd",
            # d_icd_diagnoses missing
        },
    )
    env = dbt_env(built, work, defects, "preflight")
    output = failing_dbt(
        env,
        "run",
        *SQL_LAYER,
        "--select",
        "stg_mimic__patients",
        "--vars",
        warehouse_vars(mimic_hosp_schema="broken_hosp", mimic_icu_schema="no_such_icu"),
    )
    assert "mimic_source_mode is 'warehouse' but the MIMIC-IV tables are not in the layout" in output
    assert f"table {defects}.broken_hosp.patients is missing column(s) anchor_age;" in output
    assert (
        f"table {defects}.broken_hosp.admissions column admittime has type text, declared timestamp"
        " (accepted: timestamp)" in output
    )
    assert (
        f"table {defects}.broken_hosp.d_icd_diagnoses (MIMIC-IV hosp/d_icd_diagnoses) not found\n" in output
    )
    assert (
        f"table {defects}.no_such_icu.icustays (MIMIC-IV icu/icustays) not found;"
        f" schema {defects}.no_such_icu does not exist" in output
    )
    assert "START sql" not in output  # the check ran before any model


@pytest.fixture(scope="module")
def absurd_stay(defects: str) -> int:
    """Schema absurd_hosp: the hosp tables with one admission discharged three thousand years
    after it began; its hadm_id."""
    hadm_id = query(defects, "select min(hadm_id) from mimiciv_hosp.admissions")[0][0]
    views(
        defects,
        "absurd_hosp",
        {
            "admissions": "select subject_id, hadm_id, admittime,"
            f" case when hadm_id = {hadm_id} then timestamp '5190-01-01' else dischtime end as dischtime,"
            " deathtime, admission_type, admit_provider_id, admission_location, discharge_location,"
            " insurance, language, marital_status, race, edregtime, edouttime, hospital_expire_flag"
            " from mimiciv_hosp.admissions",
            **{
                table: f"select * from mimiciv_hosp.{table}" for table in HOSP_TABLES if table != "admissions"
            },
        },
    )
    return hadm_id


def test_data_quality_errors_name_the_warehouse_relation(
    defects: str, absurd_stay: int, built: dict[str, str], work: Path
) -> None:
    views(defects, "truncated_icu", {"icustays": "select * from mimiciv_icu.icustays where false"})
    env = dbt_env(built, work, defects, "data-quality")
    output = failing_dbt(
        env,
        "build",
        *SQL_LAYER,
        "--select",
        "+data_quality_checks",
        "--indirect-selection",
        "cautious",
        "--vars",
        warehouse_vars(mimic_hosp_schema="absurd_hosp"),
    )
    assert "Failure in test data_quality_errors" in output
    failures = query(
        defects,
        "select check_name, source_file, column_name, num_failing_rows, first_failing_keys"
        " from audit.data_quality_errors order by check_name",
    )
    assert failures == [
        (
            "hospital_stay_is_physically_possible",
            f"{defects}.absurd_hosp.admissions",
            "length_of_stay_days",
            1,
            f"hadm_id={absurd_stay}",
        ),
    ]
    # an empty table stops its staging model, naming the relation, before any test reads it
    output = failing_dbt(
        env,
        "run",
        *SQL_LAYER,
        "--select",
        "stg_mimic__icustays",
        "--vars",
        warehouse_vars(mimic_icu_schema="truncated_icu"),
    )
    assert (
        f"MIMIC-IV table icustays has no rows: {defects}.truncated_icu.icustays holds no data rows" in output
    )


def test_quarantine_reasons_name_the_warehouse_relation(
    defects: str, absurd_stay: int, built: dict[str, str], work: Path
) -> None:
    env = dbt_env(built, work, defects, "quarantine")
    run_dbt(
        env,
        "run",
        *SQL_LAYER,
        "--select",
        "stg_mimic__quarantined_admissions",
        "--vars",
        warehouse_vars(mimic_hosp_schema="absurd_hosp", quarantine_row_defects=True),
    )
    reasons = query(defects, "select hadm_id, reasons from audit.stg_mimic__quarantined_admissions")
    assert len(reasons) == 1 and reasons[0][0] == absurd_stay
    assert reasons[0][1].startswith(f"{defects}.absurd_hosp.admissions: hospital stay of 1")
