"""The SQL layer on PostgreSQL gives the same features as on DuckDB, patient by patient.

Needs a PostgreSQL server (`make test-postgres` starts a throwaway one with
scripts/local_postgres.sh and runs this module). Without one the module is skipped, unless
MIMIC_SEGMENTS_REQUIRE_POSTGRES=1 (set by `make test-postgres` and CI), where that is a failure.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
from conftest import run_dbt
from engine_comparison import COMPARED, DEMO_ROWS, assert_same_values, frame_from_duckdb, sorted_by

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

REQUIRED = bool(os.environ.get("MIMIC_SEGMENTS_REQUIRE_POSTGRES"))
# dbt-postgres (the `postgres` extra) brings psycopg2; without it, skip unless required
psycopg2 = pytest.importorskip("psycopg2") if not REQUIRED else __import__("psycopg2")


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
    return sorted_by(frame, keys)


@pytest.mark.parametrize("table", sorted(COMPARED))
def test_postgres_matches_duckdb(postgres_built: dict[str, str], table: str) -> None:
    keys = COMPARED[table]
    on_duckdb = frame_from_duckdb(postgres_built["MIMIC_SEGMENTS_DB"], table, keys)
    on_postgres = _frame_from_postgres(table, keys)
    assert len(on_duckdb) == DEMO_ROWS[table]
    assert_same_values(on_duckdb, on_postgres)
