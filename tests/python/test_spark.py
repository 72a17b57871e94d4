"""Apache Spark gives the same features and segments as DuckDB, patient by patient.

dbt-spark's `session` method runs a local SparkSession inside dbt's own process (profile
target `spark`): no server, but a JVM, whose start-up costs about 20 seconds and whose build
takes minutes on two cores. dbt-spark runs no Python models, so `make build-spark`'s three
steps run here: the SQL layer, the segmentation fit through a SparkSession of its own
(mimic_segments.segmentation.warehouse), the SQL scorer and the segment marts. So this module
runs only when asked: MIMIC_SEGMENTS_REQUIRE_SPARK=1 (set by `make test-spark` and CI), where a
missing pyspark or Java is a failure; otherwise it is skipped and `make test` starts no JVM.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import yaml
from conftest import REPO_ROOT, assert_same_values, dbt_result
from engine_comparison import (
    COMPARED,
    DEMO_ROWS,
    SEGMENT_MARTS,
    SEGMENT_ROWS,
    frame_from_duckdb,
    schema_in_duckdb,
    sorted_by,
)

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
    result = subprocess.run(
        [sys.executable, "-m", "mimic_segments.segmentation.warehouse", "--target", "spark", "--build"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    # both dbt builds passed every test without a warning, and the fit wrote its three tables
    assert result.stdout.count("ERROR=0") == 2 and result.stdout.count(" WARN=0 ") == 2, result.stdout[-3000:]
    assert result.stdout.count("Fitted ") == 3, result.stdout[-3000:]
    return env


def _frame_from_spark(built: dict[str, str], table: str, keys: list[str]) -> pd.DataFrame:
    """The mart as Spark wrote it: the Parquet files of the managed table `<schema>.<table>`,
    in the schema the DuckDB build put it."""
    spark_dir, database = built["MIMIC_SEGMENTS_SPARK_DIR"], built["MIMIC_SEGMENTS_DEV_DB"]
    files = Path(spark_dir) / "warehouse" / f"{schema_in_duckdb(database, table)}.db" / table
    assert any(files.glob("*.parquet")), f"no Parquet files in {files}"
    with duckdb.connect() as connection:
        frame = connection.execute("select * from read_parquet(?)", [str(files / "*.parquet")]).df()
    return sorted_by(frame, keys)


@pytest.mark.parametrize("table", sorted({**COMPARED, **SEGMENT_MARTS}))
def test_spark_matches_duckdb(spark_built: dict[str, str], table: str) -> None:
    keys = {**COMPARED, **SEGMENT_MARTS}[table]
    on_duckdb = frame_from_duckdb(spark_built["MIMIC_SEGMENTS_DEV_DB"], table, keys)
    on_spark = _frame_from_spark(spark_built, table, keys)
    assert len(on_duckdb) == {**DEMO_ROWS, **SEGMENT_ROWS}.get(table, len(on_duckdb)) and len(on_duckdb) > 0
    assert_same_values(on_duckdb, on_spark)


def test_the_sql_scorer_assigns_every_patient_as_python_does(spark_built: dict[str, str]) -> None:
    """The segment assignment across engines: DuckDB's Python scorer, Spark's SQL scorer."""
    columns = ["subject_id", "cluster_id", "distance_to_centroid"]
    by_python = frame_from_duckdb(spark_built["MIMIC_SEGMENTS_DEV_DB"], "patient_clusters", ["subject_id"])
    by_sql = _frame_from_spark(spark_built, "patient_nearest_centroid", ["subject_id"])
    assert len(by_sql) == 100 and by_sql["cluster_id"].nunique() == 4
    assert_same_values(by_python[columns], by_sql[columns])


def test_a_broken_check_keeps_its_rows_on_spark(spark_built: dict[str, str]) -> None:
    """dbt's store_failures on Spark, with a check whose `where` holds quotes: a shorter
    return-curve horizon, given to the tests alone, breaks the check that follow-up ends within
    it; its rows land in its audit table, exactly those DuckDB counts, and a passing run leaves
    the table empty."""
    model = "int_patients_followed_for_return"
    document = yaml.safe_load(
        (REPO_ROOT / "models" / "intermediate" / "_int_return_curves__models.yml").read_text()
    )
    (check,) = [
        spec["expression_is_true"]["arguments"]
        for node in document["models"]
        if node["name"] == model
        for spec in node["data_tests"]
        if isinstance(spec, dict)
        and "return_curve_horizon_days"
        in spec.get("expression_is_true", {}).get("arguments", {}).get("expression", "")
    ]
    assert "'" in check["where"]
    horizon = 10
    with duckdb.connect(spark_built["MIMIC_SEGMENTS_DEV_DB"], read_only=True) as connection:
        (beyond,) = connection.execute(
            f"select count(*) from intermediate.{model} where outcome <> 'not_followed'"
            f" and not (follow_up_days between 0 and {horizon} and follow_up_days <= days_to_end_of_data)"
        ).fetchone()
    assert beyond > 0
    target = Path(spark_built["DBT_TARGET_PATH"])

    def model_tests(*args: str) -> subprocess.CompletedProcess[str]:
        return dbt_result(
            spark_built,
            "test",
            "--target",
            "spark",
            "--select",
            model,
            "--exclude",
            "test_type:unit test_type:singular",
            *args,
        )

    failed = model_tests("--vars", f"{{return_curve_horizon_days: {horizon}}}")
    assert failed.returncode == 1, failed.stdout[-3000:]
    nodes = json.loads((target / "manifest.json").read_text())["nodes"]
    results = json.loads((target / "run_results.json").read_text())["results"]
    (broken,) = [
        nodes[result["unique_id"]]
        for result in results
        if result["status"] == "fail" and nodes[result["unique_id"]]["config"].get("where") == check["where"]
    ]
    kept = Path(spark_built["MIMIC_SEGMENTS_SPARK_DIR"]) / "warehouse" / "audit.db" / broken["alias"]

    def stored_rows() -> int:
        if not any(kept.glob("*.parquet")):
            return 0
        with duckdb.connect() as connection:
            (rows,) = connection.execute(
                "select count(*) from read_parquet(?)", [str(kept / "*.parquet")]
            ).fetchone()
        return rows

    assert stored_rows() == beyond
    passed = model_tests()
    assert passed.returncode == 0, passed.stdout[-3000:]
    assert stored_rows() == 0
    # Spark enforces no constraint: the contracted models' unenforced_contract tests are enabled
    checked = {
        node["attached_node"].split(".")[-1]
        for node in nodes.values()
        if node["resource_type"] == "test"
        and node.get("test_metadata", {}).get("name") == "unenforced_contract"
    }
    assert {"stg_mimic__admissions", model, "patient_features", "segment_centroids"} <= checked


def test_an_empty_seed_stops_its_staging_model_naming_the_file(spark_built: dict[str, str]) -> None:
    """A MIMIC-IV table with no rows fails its staging model on Spark too, with the file and
    "no rows" (the pre-hook check_mimic_table_has_rows): the Parquet files of the seed table
    raw.patients swapped for one empty file of the same schema, for one `dbt run`."""
    table = Path(spark_built["MIMIC_SEGMENTS_SPARK_DIR"]) / "warehouse" / "raw.db" / "patients"
    kept = table.with_name("patients.kept")
    shutil.move(table, kept)
    try:
        table.mkdir()
        with duckdb.connect() as connection:
            connection.execute(
                f"copy (select * from read_parquet('{kept}/*.parquet') limit 0)"
                f" to '{table}/part-00000-empty.parquet' (format parquet)"
            )
        result = dbt_result(spark_built, "run", "--target", "spark", "--select", "stg_mimic__patients")
    finally:
        shutil.rmtree(table, ignore_errors=True)
        shutil.move(kept, table)
    assert result.returncode == 1, result.stdout[-3000:]
    assert (
        "MIMIC-IV table patients has no rows: seeds/mimic_demo/patients.csv holds no data rows"
        in result.stdout
    )
