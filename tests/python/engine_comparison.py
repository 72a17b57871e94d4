"""Comparing a mart built on another engine with the DuckDB build, value for value.

Shared by test_postgres.py, test_warehouse_mode.py and test_spark.py: the marts compared (the
SQL layer's, the segmentation's), their keys and row counts on the demo, and the DuckDB side
read sorted by those keys.
The comparison itself is conftest.assert_same_values.
"""

from __future__ import annotations

import duckdb
import pandas as pd

from mimic_segments.reporting import marts_digest

# The marts of the SQL layer compared, with their keys and their rows on the demo.
COMPARED: dict[str, list[str]] = {
    "patient_features": ["subject_id"],
    "admission_comorbidities": ["hadm_id"],
}
DEMO_ROWS = {"patient_features": 100, "admission_comorbidities": 275}

# The segmentation, fitted by the Python models on DuckDB and outside dbt elsewhere
# (mimic_segments.segmentation.warehouse), with every mart built on it: patients are assigned
# by the Python scorer on DuckDB, by the SQL scorer elsewhere.
SEGMENT_MARTS: dict[str, list[str]] = {
    "segmentation_diagnostics": ["k"],
    "segment_centroids": ["cluster_id", "feature_position"],
    "segment_personas": ["cluster_id"],
    "patient_segments": ["subject_id"],
    "segments": ["segment_key"],
    "segment_profiles": ["segment_key", "feature_name", "statistic"],
    "segment_top_diagnoses": ["segment_key", "diagnosis_rank"],
    "segment_top_conditions": ["segment_key", "condition_rank"],
    "segment_demographic_mix": ["segment_key", "attribute_name", "category"],
}
SEGMENT_ROWS = {"patient_segments": 100, "segment_personas": 4}


def sorted_by(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    return frame.sort_values(keys).reset_index(drop=True)


def schema_in_duckdb(database: str, table: str) -> str:
    """The schema (`marts` or `segmentation`) the DuckDB build put a mart in: the other engines'
    builds put it in the same one."""
    with duckdb.connect(database, read_only=True) as connection:
        return marts_digest.mart_schema(connection, table)


def frame_from_duckdb(database: str, table: str, keys: list[str]) -> pd.DataFrame:
    with duckdb.connect(database, read_only=True) as connection:
        relation = f"{marts_digest.mart_schema(connection, table)}.{table}"
        frame = connection.execute(f"select * from {relation}").df()
    return sorted_by(frame, keys)
