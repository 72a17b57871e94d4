"""The dbt Python models' edge: platform frames to pandas, pipeline outputs to the platform's frames.

DuckDB is real here; the other platforms are fakes with the method names their libraries
document (the Spark path runs on a real SparkSession in test_python_models_spark.py).
"""

from __future__ import annotations

from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pytest

from mimic_segments.segmentation import frames


class SparkLikeFrame:
    """Answers any unknown attribute with a 'column', as a PySpark DataFrame does."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self._frame = frame

    def __getattr__(self, name: str) -> Any:
        return lambda: f"column {name}"

    def toPandas(self) -> pd.DataFrame:
        return self._frame


class ToPandasFrame:
    """Snowpark's and BigQuery DataFrames' method."""

    def __init__(self, frame: object) -> None:
        self._frame = frame

    def to_pandas(self) -> object:
        return self._frame


class ColumnMagicOnly:
    """No conversion method of its own, but every attribute looks like one on the instance."""

    def __getattr__(self, name: str) -> Any:
        return lambda: pd.DataFrame()


class ForwardingCursor:
    """dbt-duckdb's DuckDBCursorWrapper: every attribute forwarded to the DuckDB cursor."""

    def __init__(self, cursor: duckdb.DuckDBPyConnection) -> None:
        self._cursor = cursor

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)


class RecordingSession:
    """A session that records what it was asked to write, under the given method name(s)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []


class SnowparkLikeSession(RecordingSession):
    def create_dataframe(self, data: Any, **options: Any) -> str:
        self.calls.append(("create_dataframe", (data,), options))
        return "snowpark frame"

    def createDataFrame(self, data: Any, **options: Any) -> str:
        self.calls.append(("createDataFrame", (data,), options))
        return "snowpark frame (alias)"


class SparkLikeSession(RecordingSession):
    def createDataFrame(self, data: Any, schema: Any = None) -> str:
        self.calls.append(("createDataFrame", (data,), {"schema": schema}))
        return "spark frame"


class BigFramesLikeSession(RecordingSession):
    def read_pandas(self, data: Any) -> str:
        self.calls.append(("read_pandas", (data,), {}))
        return "bigframes frame"


def output_frame() -> pd.DataFrame:
    """A pipeline output with each kind of column, and a missing value in most of them."""
    return pd.DataFrame(
        {
            "cluster_id": np.array([0, 1, 2], dtype="int64"),
            "optional_count": pd.array([3, None, 5], dtype="Int64"),
            "score": [0.25, np.nan, -1.5],
            "is_weak": [True, False, True],
            "maybe_flag": pd.array([None, True, False], dtype="boolean"),
            "persona_name": pd.array(["Frequent flyers", "Complex", "Stable"], dtype="str"),
            "runner_up": pd.Series(["Complex", None, "Stable"], dtype="object"),
        }
    )


def test_pandas_passes_through_unchanged() -> None:
    frame = output_frame()
    assert frames.to_pandas(frame) is frame


def test_a_duckdb_relation_is_read_with_its_types() -> None:
    connection = duckdb.connect()
    relation = connection.sql(
        "select * from (values (10001::bigint, 2.5::double, 'x'), (10002, null, null)) as t(subject_id, v, s)"
    )
    frame = frames.to_pandas(relation)
    assert list(frame.columns) == ["subject_id", "v", "s"]
    assert frame["subject_id"].tolist() == [10001, 10002]
    assert frame["subject_id"].dtype == "int64"
    assert frame["v"].iloc[0] == 2.5 and pd.isna(frame["v"].iloc[1])
    assert frame["s"].iloc[0] == "x" and pd.isna(frame["s"].iloc[1])


def test_a_spark_frame_is_read_by_topandas_even_though_it_answers_every_attribute() -> None:
    inner = pd.DataFrame({"subject_id": [1, 2]})
    assert frames.to_pandas(SparkLikeFrame(inner)) is inner


def test_snowflake_upper_case_columns_come_back_lower_case() -> None:
    frame = frames.to_pandas(ToPandasFrame(pd.DataFrame({"SUBJECT_ID": [1], "Num_Admissions": [2]})))
    assert list(frame.columns) == ["subject_id", "num_admissions"]
    assert frame["subject_id"].tolist() == [1]


def test_columns_that_collide_when_lowercased_are_an_error() -> None:
    with pytest.raises(ValueError, match="collide"):
        frames.to_pandas(pd.DataFrame({"A": [1], "a": [2]}))


@pytest.mark.parametrize(
    ("value", "named"),
    [({"a": [1]}, r"builtins\.dict"), (ColumnMagicOnly(), "ColumnMagicOnly"), (None, "NoneType")],
)
def test_anything_else_is_a_type_error_naming_its_type(value: object, named: str) -> None:
    with pytest.raises(TypeError, match=named):
        frames.to_pandas(value)


def test_a_conversion_that_does_not_give_pandas_is_a_type_error() -> None:
    with pytest.raises(TypeError, match=r"builtins\.list, not pandas"):
        frames.to_pandas(ToPandasFrame([1, 2]))


def test_column_kinds_follow_the_contract_types() -> None:
    assert frames.column_kinds(output_frame()) == [
        ("cluster_id", "bigint"),
        ("optional_count", "bigint"),
        ("score", "double precision"),
        ("is_weak", "boolean"),
        ("maybe_flag", "boolean"),
        ("persona_name", "varchar"),
        ("runner_up", "varchar"),
    ]
    # object columns as PySpark's toPandas gives them (a nullable boolean, an all-NULL string)
    assert frames.column_kind(pd.Series([True, None], dtype="object")) == "boolean"
    assert frames.column_kind(pd.Series([None, None], dtype="object")) == "varchar"


@pytest.mark.parametrize(
    "column",
    [
        pd.Series(pd.to_datetime(["2020-01-01"]), name="when"),
        pd.Series(["a", 1], dtype="object", name="mixed"),
    ],
)
def test_a_column_of_no_writable_type_is_a_type_error_naming_it(column: pd.Series) -> None:
    with pytest.raises(TypeError, match=str(column.name)):
        frames.column_kind(column)


def test_rows_are_python_values_with_none_for_every_missing_value() -> None:
    frame = output_frame()
    rows = frames.python_rows(frame, frames.column_kinds(frame))
    assert rows == [
        (0, 3, 0.25, True, None, "Frequent flyers", "Complex"),
        (1, None, None, False, True, "Complex", None),
        (2, 5, -1.5, True, False, "Stable", "Stable"),
    ]
    # Python's own types, not numpy's (Spark's schema verification rejects numpy scalars)
    assert [type(value) for value in rows[0]] == [int, int, float, bool, type(None), str, str]


def test_duckdb_gets_the_pandas_frame_bare_or_wrapped_as_dbt_duckdb_passes_it() -> None:
    connection = duckdb.connect()
    frame = output_frame()
    assert frames.to_platform(frame, connection) is frame
    assert frames.to_platform(frame, ForwardingCursor(connection.cursor())) is frame
    # and DuckDB writes it with NULL for every missing value
    nulls = connection.sql(
        "select count(*) filter (where optional_count is null), count(*) filter (where score is null), "
        "count(*) filter (where runner_up is null) from frame"
    ).fetchall()
    assert nulls == [(1, 1, 1)]


def test_snowpark_gets_create_dataframe_with_upper_case_columns() -> None:
    session = SnowparkLikeSession()
    assert frames.to_platform(output_frame(), session) == "snowpark frame"
    [(method, (written,), _)] = session.calls
    assert method == "create_dataframe"
    assert list(written.columns) == [c.upper() for c in output_frame().columns]
    assert written["CLUSTER_ID"].tolist() == [0, 1, 2]


def test_bigquery_dataframes_gets_read_pandas_of_the_frame() -> None:
    session = BigFramesLikeSession()
    frame = output_frame()
    assert frames.to_platform(frame, session) == "bigframes frame"
    assert session.calls == [("read_pandas", (frame,), {})]


def test_spark_gets_python_rows_and_an_explicit_schema() -> None:
    types = pytest.importorskip("pyspark.sql.types")  # no JVM: the session is a fake
    session = SparkLikeSession()
    frame = output_frame()
    assert frames.to_platform(frame, session) == "spark frame"
    [(method, (rows,), options)] = session.calls
    assert method == "createDataFrame"
    assert rows == frames.python_rows(frame, frames.column_kinds(frame))
    schema = options["schema"]
    assert [(f.name, type(f.dataType), f.nullable) for f in schema.fields] == [
        ("cluster_id", types.LongType, True),
        ("optional_count", types.LongType, True),
        ("score", types.DoubleType, True),
        ("is_weak", types.BooleanType, True),
        ("maybe_flag", types.BooleanType, True),
        ("persona_name", types.StringType, True),
        ("runner_up", types.StringType, True),
    ]


def test_an_unknown_session_or_a_non_pandas_output_is_a_type_error() -> None:
    with pytest.raises(TypeError, match=r"builtins\.object session"):
        frames.to_platform(output_frame(), object())
    with pytest.raises(TypeError, match="pipeline's pandas DataFrame"):
        frames.to_platform([1, 2], duckdb.connect())  # type: ignore[arg-type]
