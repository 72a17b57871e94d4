"""Comparing a mart built on another engine with the DuckDB build, value for value.

Shared by test_postgres.py and test_spark.py: the marts compared, their keys and row counts
on the demo, and the comparison itself (checked in test_engines.py).
"""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd

# The marts of the SQL layer compared, with their keys and their rows on the demo. The segment
# assignment is not among them: dbt runs the Python models on DuckDB only here (see the
# README's engines section).
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
