"""The SQL layer on PostgreSQL gives the same features as on DuckDB, patient by patient.

Needs a PostgreSQL server (`make test-postgres` starts a throwaway one with
scripts/local_postgres.sh and runs this module). Without one the module is skipped, unless
MIMIC_SEGMENTS_REQUIRE_POSTGRES=1 (set by `make test-postgres` and CI), where that is a failure.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from conftest import run_dbt

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

REQUIRED = bool(os.environ.get("MIMIC_SEGMENTS_REQUIRE_POSTGRES"))
# dbt-postgres (the `postgres` extra) brings psycopg2; without it, skip unless required
psycopg2 = pytest.importorskip("psycopg2") if not REQUIRED else __import__("psycopg2")

# The marts compared, with their keys. The segment assignment is not among them yet: the
# Python models do not run on dbt-postgres (see the README's engines section).
COMPARED = {
    "patient_features": ["subject_id"],
    "admission_comorbidities": ["hadm_id"],
}


def _connect():
    return psycopg2.connect(
        host=os.environ.get("MIMIC_SEGMENTS_PG_HOST", "127.0.0.1"),
        port=int(os.environ.get("MIMIC_SEGMENTS_PG_PORT", "54329")),
        user=os.environ.get("MIMIC_SEGMENTS_PG_USER", "postgres"),
        password=os.environ.get("MIMIC_SEGMENTS_PG_PASSWORD", ""),
        dbname=os.environ.get("MIMIC_SEGMENTS_PG_DATABASE", "mimic_segments"),
        connect_timeout=3,
    )


@pytest.fixture(scope="module")
def postgres_built(built: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    try:
        _connect().close()
    except psycopg2.OperationalError as error:
        if REQUIRED:
            raise
        pytest.skip(f"no PostgreSQL server (make test-postgres starts one): {error}")
    work: Path = tmp_path_factory.mktemp("postgres")
    env = dict(built, DBT_TARGET_PATH=str(work / "target"), DBT_LOG_PATH=str(work / "logs"))
    result = run_dbt(env, "build", "--target", "postgres", "--exclude", "path:python_models+")
    assert "ERROR=0" in result.stdout and "WARN=0" in result.stdout, result.stdout[-3000:]
    return env


def _frame_from_postgres(table: str, keys: list[str]) -> pd.DataFrame:
    with _connect() as connection, connection.cursor() as cursor:
        cursor.execute(f"select * from marts.{table}")
        columns = [column.name for column in cursor.description]
        frame = pd.DataFrame(cursor.fetchall(), columns=columns)
    return frame.sort_values(keys).reset_index(drop=True)


def _frame_from_duckdb(database: str, table: str, keys: list[str]) -> pd.DataFrame:
    with duckdb.connect(database, read_only=True) as connection:
        frame = connection.execute(f"select * from marts.{table}").df()
    return frame.sort_values(keys).reset_index(drop=True)


def assert_same_values(left: pd.DataFrame, right: pd.DataFrame, rtol: float = 1e-9) -> None:
    """Same columns, rows and values; floating point within rtol, everything else exactly."""
    assert list(left.columns) == list(right.columns)
    assert len(left) == len(right)
    for column in left.columns:
        a, b = left[column], right[column]
        assert (a.isna() == b.isna()).all(), f"{column}: NULLs differ"
        present = ~a.isna()
        a, b = a[present], b[present]
        if pd.api.types.is_float_dtype(a) or pd.api.types.is_float_dtype(b):
            assert np.allclose(a.astype(float), b.astype(float), rtol=rtol, atol=0), column
        elif pd.api.types.is_datetime64_any_dtype(a) or pd.api.types.is_datetime64_any_dtype(b):
            # DuckDB hands pandas a date as datetime64, psycopg2 as datetime.date
            assert (pd.to_datetime(a).to_numpy() == pd.to_datetime(b).to_numpy()).all(), column
        else:
            assert [str(x) for x in a] == [str(x) for x in b], column


@pytest.mark.parametrize("table", sorted(COMPARED))
def test_postgres_matches_duckdb(postgres_built: dict[str, str], table: str) -> None:
    keys = COMPARED[table]
    on_duckdb = _frame_from_duckdb(postgres_built["MIMIC_SEGMENTS_DB"], table, keys)
    on_postgres = _frame_from_postgres(table, keys)
    assert len(on_duckdb) == {"patient_features": 100, "admission_comorbidities": 275}[table]
    assert_same_values(on_duckdb, on_postgres)


def test_the_comparison_catches_a_difference() -> None:
    left = pd.DataFrame({"subject_id": [1, 2], "share": [0.5, 0.25]})
    with pytest.raises(AssertionError):
        assert_same_values(left, left.assign(share=[0.5, 0.2500001]))
    with pytest.raises(AssertionError):
        assert_same_values(left, left.assign(subject_id=[1, 3]))
    dated = left.assign(on=pd.to_datetime(["2150-01-01", "2150-01-02"]))
    with pytest.raises(AssertionError):
        assert_same_values(dated, dated.assign(on=pd.to_datetime(["2150-01-01", "2150-01-03"])))
