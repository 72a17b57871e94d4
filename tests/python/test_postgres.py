"""The SQL layer on PostgreSQL gives the same features as on DuckDB, patient by patient.

Needs a PostgreSQL server (`make test-postgres` starts a throwaway one with
scripts/local_postgres.sh and runs this module). Without one the module is skipped, unless
MIMIC_SEGMENTS_REQUIRE_POSTGRES=1 (set by `make test-postgres` and CI), where that is a failure.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from conftest import run_dbt
from postgres_helpers import (
    COMPARED,
    DEMO_ROWS,
    REQUIRED,
    assert_same_values,
    frame_from_duckdb,
    frame_from_postgres,
    skip_without_server,
)

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]

# dbt-postgres (the `postgres` extra) brings psycopg2; without it, skip unless required
if not REQUIRED:
    pytest.importorskip("psycopg2")


@pytest.fixture(scope="module")
def postgres_built(built: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    skip_without_server()
    work: Path = tmp_path_factory.mktemp("postgres")
    env = dict(built, DBT_TARGET_PATH=str(work / "target"), DBT_LOG_PATH=str(work / "logs"))
    result = run_dbt(env, "build", "--target", "postgres", "--exclude", "path:python_models+")
    assert "ERROR=0" in result.stdout and "WARN=0" in result.stdout, result.stdout[-3000:]
    return env


@pytest.mark.parametrize("table", sorted(COMPARED))
def test_postgres_matches_duckdb(postgres_built: dict[str, str], table: str) -> None:
    keys = COMPARED[table]
    on_duckdb = frame_from_duckdb(postgres_built["MIMIC_SEGMENTS_DB"], table, keys)
    on_postgres = frame_from_postgres(table, keys)
    assert len(on_duckdb) == DEMO_ROWS[table]
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
