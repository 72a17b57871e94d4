"""The dbt Python models' Spark path: the real models on a local SparkSession give the DuckDB build's tables.

Databricks cannot be reached from here, so a local SparkSession stands in for it: the same
PySpark DataFrame API that dbt-databricks hands a Python model. The four files in
python_models/ are loaded as they are and called as dbt calls them, ``model(dbt, session)``,
with a minimal dbt object: its ``ref()`` returns Spark DataFrames read from Parquet copies of
the DuckDB build's tables (the segmentation inputs and the seeds), or the Spark output of an
upstream Python model (``segment_centroids``, which ``segment_personas`` and
``patient_clusters`` read), and its ``config.get`` returns the configs dbt compiled for the
model (``segmentation_settings``, from the build's manifest).

Selection: this module starts a JVM, so it runs only when asked. ``make test-spark`` sets
MIMIC_SEGMENTS_REQUIRE_SPARK=1 (then a missing pyspark or Java is a failure); ``pytest -m
spark`` (any -m expression naming spark) runs it too, skipping without pyspark or Java. A
plain ``pytest``/``make test`` skips it before any JVM starts.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pytest
from conftest import REPO_ROOT

pytestmark = [
    pytest.mark.spark,
    pytest.mark.e2e,
    # pyspark 4.3's toPandas passes pandas 3 a deprecated copy=False, once per column
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]

REQUIRED = os.environ.get("MIMIC_SEGMENTS_REQUIRE_SPARK") == "1"
PROJECT = "mimic_segments"
MODELS = ("segmentation_diagnostics", "segment_centroids", "segment_personas", "patient_clusters")
# Tables the models ref that are not Python models: read from the DuckDB build.
BUILT_INPUTS = (
    "int_patients_prepared_for_segmentation",
    "feature_catalogue",
    "persona_catalogue",
    "persona_signatures",
)
KEYS = {
    "segmentation_diagnostics": ["k"],
    "segment_centroids": ["cluster_id", "feature_position"],
    "segment_personas": ["cluster_id"],
    "patient_clusters": ["subject_id"],
}
# Spark's name for each contract type of python_models/_python_models.yml, and for DuckDB's
# name of it (the generated scaled_<feature> columns have no declared type)
SPARK_TYPES = {"bigint": "bigint", "double precision": "double", "boolean": "boolean", "varchar": "string"}
SPARK_TYPES_OF_DUCKDB = {"BIGINT": "bigint", "DOUBLE": "double", "BOOLEAN": "boolean", "VARCHAR": "string"}


def _unavailable(reason: str) -> None:
    if REQUIRED:
        pytest.fail(f"MIMIC_SEGMENTS_REQUIRE_SPARK=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session", autouse=True)
def _only_when_asked(request: pytest.FixtureRequest) -> None:
    """Skip before the demo build and the JVM unless Spark was asked for. Session scope and
    autouse put it ahead of the session's `built` fixture."""
    if not REQUIRED and "spark" not in (request.config.getoption("markexpr") or ""):
        pytest.skip(
            "starts a JVM: run with `make test-spark` (MIMIC_SEGMENTS_REQUIRE_SPARK=1) or `pytest -m spark`"
        )


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        _unavailable("pyspark is not installed (pip install -e '.[spark]')")
    if not (os.environ.get("JAVA_HOME") or shutil.which("java")):
        _unavailable("no Java runtime (Spark 4 needs Java 17 or later)")
    saved = {name: os.environ.get(name) for name in ("SPARK_LOCAL_IP", "PYSPARK_PYTHON")}
    os.environ.update(SPARK_LOCAL_IP="127.0.0.1", PYSPARK_PYTHON=sys.executable)
    session = (
        SparkSession.builder.master("local[1]")
        .appName("mimic-segments-python-models")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.sql.shuffle.partitions", "1")
        .config("spark.sql.session.timeZone", "UTC")
        # without pyarrow (not a dependency) toPandas falls back to rows anyway: say so, not warn
        .config("spark.sql.execution.arrow.pyspark.enabled", "false")
        .getOrCreate()
    )
    try:
        yield session
    finally:
        session.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class Config:
    """``dbt.config``: called with the model's own settings, ``get`` for the compiled ones."""

    def __init__(self, compiled: Mapping[str, Any]) -> None:
        self.compiled = dict(compiled)
        self.declared: dict[str, Any] = {}

    def __call__(self, **settings: Any) -> None:
        self.declared.update(settings)

    def get(self, key: str, default: Any = None) -> Any:
        return self.compiled.get(key, default)


class Dbt:
    """The dbt object a Python model receives, reduced to what these models use."""

    def __init__(self, tables: Mapping[str, Any], compiled_config: Mapping[str, Any]) -> None:
        self.tables = tables
        self.config = Config(compiled_config)
        self.refs: list[str] = []

    def ref(self, name: str) -> Any:
        self.refs.append(name)
        return self.tables[name]


def load_model(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        f"python_model_{name}", REPO_ROOT / "python_models" / f"{name}.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def project_nodes(built: dict[str, str]) -> dict[str, dict[str, Any]]:
    """The build's models and seeds by name, from its manifest."""
    manifest = json.loads((Path(built["DBT_TARGET_PATH"]) / "manifest.json").read_text())
    return {
        node["name"]: node
        for node in manifest["nodes"].values()
        if node["resource_type"] in ("model", "seed") and node["package_name"] == PROJECT
    }


@pytest.fixture(scope="module")
def on_spark(
    spark: Any, built: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[Any, Dbt]]:
    """Each model run on Spark, in dbt's order: its output Spark DataFrame and the dbt object it got."""
    nodes = project_nodes(built)
    parquet = tmp_path_factory.mktemp("spark_inputs")
    tables: dict[str, Any] = {}
    with duckdb.connect(built["MIMIC_SEGMENTS_DEV_DB"], read_only=True) as connection:
        for name in BUILT_INPUTS:
            path = parquet / f"{name}.parquet"
            connection.execute(
                f"copy (select * from {nodes[name]['relation_name']}) to '{path}' (format parquet)"
            )
            tables[name] = spark.read.parquet(str(path))
    results: dict[str, tuple[Any, Dbt]] = {}
    for name in MODELS:
        dbt = Dbt(tables, nodes[name]["config"])
        output = load_model(name).model(dbt, spark)
        results[name] = (output, dbt)
        tables[name] = output  # what a downstream model's ref() reads
    return results


def collected(frame: Any) -> pd.DataFrame:
    """A Spark DataFrame's rows, collected, as pandas (columns in the frame's order)."""
    return pd.DataFrame([row.asDict() for row in frame.collect()], columns=frame.columns)


def from_duckdb(built: dict[str, str], relation: str) -> pd.DataFrame:
    with duckdb.connect(built["MIMIC_SEGMENTS_DEV_DB"], read_only=True) as connection:
        return connection.execute(f"select * from {relation}").df()


def assert_same_table(on_spark: pd.DataFrame, on_duckdb: pd.DataFrame, keys: list[str]) -> None:
    """Same columns in the same order, same rows by key; doubles within 1e-9 (relative to
    1 + |value|), everything else exactly, NULL where the other has NULL."""
    assert list(on_spark.columns) == list(on_duckdb.columns)
    assert len(on_spark) == len(on_duckdb)
    left = on_spark.sort_values(keys, kind="mergesort").reset_index(drop=True)
    right = on_duckdb.sort_values(keys, kind="mergesort").reset_index(drop=True)
    for column in left.columns:
        a, b = left[column], right[column]
        assert a.isna().tolist() == b.isna().tolist(), f"{column}: NULLs differ"
        present = ~b.isna()
        if pd.api.types.is_float_dtype(b):
            x, y = a[present].to_numpy(dtype="float64"), b[present].to_numpy(dtype="float64")
            assert (np.abs(x - y) <= 1e-9 * (1 + np.abs(y))).all(), column
        else:
            assert a[present].tolist() == b[present].tolist(), column


@pytest.mark.parametrize("name", MODELS)
def test_the_model_on_spark_returns_a_spark_frame_with_its_contract_types(
    on_spark: dict[str, tuple[Any, Dbt]], built: dict[str, str], name: str
) -> None:
    from pyspark.sql import DataFrame

    output, dbt = on_spark[name]
    assert isinstance(output, DataFrame)
    assert dbt.config.declared == {"materialized": "table"}
    node = project_nodes(built)[name]
    on_spark_types = {field.name: field.dataType.simpleString() for field in output.schema.fields}
    with duckdb.connect(built["MIMIC_SEGMENTS_DEV_DB"], read_only=True) as connection:
        described = connection.execute(f"describe {node['relation_name']}").fetchall()
    assert list(on_spark_types.items()) == [(row[0], SPARK_TYPES_OF_DUCKDB[row[1]]) for row in described]
    declared = {column: SPARK_TYPES[spec["data_type"]] for column, spec in node["columns"].items()}
    assert {column: on_spark_types.get(column) for column in declared} == declared


@pytest.mark.parametrize("name", MODELS)
def test_the_model_on_spark_gives_the_duckdb_build_s_table(
    on_spark: dict[str, tuple[Any, Dbt]], built: dict[str, str], name: str
) -> None:
    output, _ = on_spark[name]
    assert_same_table(
        collected(output), from_duckdb(built, project_nodes(built)[name]["relation_name"]), KEYS[name]
    )


def test_every_demo_patient_of_the_clustering_population_has_the_same_segment_on_spark(
    on_spark: dict[str, tuple[Any, Dbt]], built: dict[str, str]
) -> None:
    on_spark_segments = collected(on_spark["patient_clusters"][0])[["subject_id", "cluster_id"]]
    on_duckdb = from_duckdb(built, project_nodes(built)["patient_clusters"]["relation_name"])
    assert len(on_spark_segments) == 100  # the demo's 100 patients, every one with an admission
    same = on_spark_segments.merge(
        on_duckdb[["subject_id", "cluster_id"]], on="subject_id", suffixes=("", "_db")
    )
    assert len(same) == 100 and (same["cluster_id"] == same["cluster_id_db"]).all()
    # the chain ran on Spark: both scoring models read segment_centroids' Spark output
    assert "segment_centroids" in on_spark["patient_clusters"][1].refs
    assert "segment_centroids" in on_spark["segment_personas"][1].refs
