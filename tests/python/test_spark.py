"""The SQL layer on Apache Spark gives the same features as on DuckDB, patient by patient.

dbt-spark's `session` method runs a local SparkSession inside dbt's own process (profile
target `spark`): no server, but a JVM, whose start-up costs about 20 seconds and whose build
of the SQL layer takes minutes on two cores. So this module runs only when asked:
MIMIC_SEGMENTS_REQUIRE_SPARK=1 (set by `make test-spark` and CI), where a missing pyspark or
Java is a failure; otherwise it is skipped and the default `make test` starts no JVM.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from conftest import assert_same_values, run_dbt
from engine_comparison import COMPARED, DEMO_ROWS, frame_from_duckdb, sorted_by

pytestmark = [pytest.mark.e2e, pytest.mark.spark]

if not os.environ.get("MIMIC_SEGMENTS_REQUIRE_SPARK"):
    pytest.skip("Spark starts a JVM: make test-spark runs this module", allow_module_level=True)

# required: a missing `spark` extra fails here rather than being skipped
import pyspark  # noqa: E402, F401


@pytest.fixture(scope="module")
def spark_built(built: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    assert shutil.which("java") or os.environ.get("JAVA_HOME"), "Spark needs Java (17)"
    work: Path = tmp_path_factory.mktemp("spark")
    env = dict(
        built,
        DBT_TARGET_PATH=str(work / "target"),
        DBT_LOG_PATH=str(work / "logs"),
        # the metastore and the warehouse's Parquet files, thrown away with the temp dir
        MIMIC_SEGMENTS_SPARK_DIR=str(work / "spark"),
    )
    env.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    result = run_dbt(env, "build", "--target", "spark", "--exclude", "path:python_models+")
    assert "ERROR=0" in result.stdout and "WARN=0" in result.stdout, result.stdout[-3000:]
    return env


def _frame_from_spark(spark_dir: str, table: str, keys: list[str]) -> pd.DataFrame:
    """The mart as Spark wrote it: the Parquet files of the managed table `marts.<table>`."""
    files = Path(spark_dir) / "warehouse" / "marts.db" / table
    assert any(files.glob("*.parquet")), f"no Parquet files in {files}"
    with duckdb.connect() as connection:
        frame = connection.execute("select * from read_parquet(?)", [str(files / "*.parquet")]).df()
    return sorted_by(frame, keys)


@pytest.mark.parametrize("table", sorted(COMPARED))
def test_spark_matches_duckdb(spark_built: dict[str, str], table: str) -> None:
    keys = COMPARED[table]
    on_duckdb = frame_from_duckdb(spark_built["MIMIC_SEGMENTS_DB"], table, keys)
    on_spark = _frame_from_spark(spark_built["MIMIC_SEGMENTS_SPARK_DIR"], table, keys)
    assert len(on_duckdb) == DEMO_ROWS[table]
    assert_same_values(on_duckdb, on_spark)
