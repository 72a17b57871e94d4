"""The segmentation fit outside dbt (step 2 on warehouses without Python models) writes the
tables the dbt Python models write, value for value.

Run here against the DuckDB demo build, where the Python models' own tables are the reference:
the command reads the inputs and seeds through a DB-API connection (in chunks), fits with the
manifest's settings, and writes the three tables with their declared types.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from conftest import assert_same_values

from mimic_segments.catalogue import features
from mimic_segments.segmentation import warehouse

pytestmark = pytest.mark.e2e

KEYS = {
    "segmentation_diagnostics": ["k"],
    "segment_centroids": ["cluster_id", "feature_position"],
    "segment_personas": ["cluster_id"],
}


def _manifest(built: dict[str, str]) -> dict:
    return json.loads((Path(built["DBT_TARGET_PATH"]) / "manifest.json").read_text(encoding="utf-8"))


def _table(connection: duckdb.DuckDBPyConnection, relation: str, keys: list[str]) -> pd.DataFrame:
    frame = connection.execute(f"select * from {relation}").df()
    return frame.sort_values(keys).reset_index(drop=True)


def test_the_plan_names_the_python_models_relations_and_settings(built: dict[str, str]) -> None:
    plan = warehouse.plan_from_manifest(_manifest(built))
    assert plan.inputs.endswith('"intermediate"."int_patients_prepared_for_segmentation"')
    assert plan.outputs["segment_centroids"].relation.endswith('"segmentation"."segment_centroids"')
    assert plan.outputs["segment_centroids"].column_types["centroid_scaled"] == "double precision"
    assert json.loads(plan.settings_config)["k"] == 4


def test_inputs_read_in_chunks_equal_one_read(built: dict[str, str]) -> None:
    plan = warehouse.plan_from_manifest(_manifest(built))
    with duckdb.connect(built["MIMIC_SEGMENTS_DEV_DB"], read_only=True) as connection:
        source = warehouse.Warehouse(connection, "?")
        chunked = warehouse.read_inputs(source, plan.inputs, chunk_rows=7)
        whole = connection.execute(f"select * from {plan.inputs} order by subject_id").df()
    assert len(chunked) == 100 and chunked["subject_id"].is_monotonic_increasing
    assert list(chunked.columns) == list(whole.columns)
    assert (chunked.drop(columns="subject_id").dtypes == "float64").all()
    assert_same_values(whole.astype(chunked.dtypes.to_dict()), chunked, rtol=0)


def test_the_fit_writes_what_the_python_models_wrote(
    built: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copy = tmp_path / Path(built["MIMIC_SEGMENTS_DEV_DB"]).name
    shutil.copyfile(built["MIMIC_SEGMENTS_DEV_DB"], copy)
    plan = warehouse.plan_from_manifest(_manifest(built))
    with duckdb.connect(str(copy)) as connection:
        for name in warehouse.FITTED:
            connection.execute(f"drop table {plan.outputs[name].relation}")
    monkeypatch.setenv("MIMIC_SEGMENTS_DEV_DB", str(copy))
    written = warehouse.run(built["DBT_PROFILES_DIR"], "dev", Path(built["DBT_TARGET_PATH"]))
    # k = 2..8; 4 segments, each with a row per clustered feature of the catalogue
    clustered = features.clustered(features.load_catalogue())
    assert written == {
        "segmentation_diagnostics": 7,
        "segment_centroids": 4 * len(clustered),
        "segment_personas": 4,
    }
    with (
        duckdb.connect(built["MIMIC_SEGMENTS_DEV_DB"], read_only=True) as by_dbt,
        duckdb.connect(str(copy), read_only=True) as by_fit,
    ):
        for name, keys in KEYS.items():
            relation = plan.outputs[name].relation
            assert_same_values(_table(by_dbt, relation, keys), _table(by_fit, relation, keys))
            declared = by_dbt.execute(
                "select column_name, data_type from information_schema.columns"
                f" where table_schema = 'segmentation' and table_name = '{name}' order by ordinal_position"
            ).fetchall()
            found = by_fit.execute(
                "select column_name, data_type from information_schema.columns"
                f" where table_schema = 'segmentation' and table_name = '{name}' order by ordinal_position"
            ).fetchall()
            assert found == declared, name


def test_a_manifest_without_the_models_is_refused() -> None:
    with pytest.raises(warehouse.WarehouseError, match="no model 'segmentation_diagnostics'"):
        warehouse.plan_from_manifest({"nodes": {}})


def test_spark_refuses_a_column_whose_kind_is_not_the_declared_type() -> None:
    """On Spark the written column types come from the frame: they must be the declared ones."""
    output = warehouse.Output("marts.t", {"cluster_id": "bigint", "share": "double precision"})
    frame = pd.DataFrame({"cluster_id": [0.0, 1.0], "share": [0.5, 0.25]})
    spark = warehouse.SparkWarehouse(connection=None, placeholder="?")
    with pytest.raises(warehouse.WarehouseError, match=r"cluster_id.*double precision.*bigint"):
        spark.replace_table(output, frame)
