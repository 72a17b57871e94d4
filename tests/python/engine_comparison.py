"""Comparing a mart built on another engine with the DuckDB build, value for value.

Shared by test_postgres.py, test_warehouse_mode.py and test_spark.py: the SQL layer's marts
compared, their keys and row counts on the demo, and the DuckDB side read sorted by those keys.
The comparison itself is conftest.assert_same_values (checked in test_engines.py).
"""

from __future__ import annotations

import duckdb
import pandas as pd

# The marts of the SQL layer compared, with their keys and their rows on the demo (where the
# segmentation is built too, test_postgres.py adds the segment marts).
COMPARED: dict[str, list[str]] = {
    "patient_features": ["subject_id"],
    "admission_comorbidities": ["hadm_id"],
}
DEMO_ROWS = {"patient_features": 100, "admission_comorbidities": 275}


def sorted_by(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    return frame.sort_values(keys).reset_index(drop=True)


def frame_from_duckdb(database: str, table: str, keys: list[str]) -> pd.DataFrame:
    with duckdb.connect(database, read_only=True) as connection:
        frame = connection.execute(f"select * from marts.{table}").df()
    return sorted_by(frame, keys)
