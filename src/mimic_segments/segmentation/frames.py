"""The dbt Python models' edge: the platform's frames in, pandas through the pipeline, the platform's out.

The segmentation runs on pandas. What ``dbt.ref()`` returns, and what the platform can write,
depends on the adapter that runs the model; each model converts once on the way in
(``to_pandas``) and once on the way out (``to_platform``), and nothing else in the package
sees a platform frame. The platforms are recognised by duck typing, on the class, so none of
pyspark, snowflake-snowpark-python or bigframes is imported (they are optional, and absent
from the DuckDB build):

============================  ==============================  ==================  ==========
adapter                       ``dbt.ref()`` returns           ``session``         tested
============================  ==============================  ==================  ==========
dbt-duckdb                    DuckDB relation (``.df()``)     DuckDB connection   every build
dbt-databricks, dbt-spark,    PySpark DataFrame, classic or   SparkSession        local Spark
dbt-bigquery on Dataproc      Spark Connect (``.toPandas()``)                     (test-spark)
dbt-snowflake                 Snowpark DataFrame              Snowpark Session    no
                              (``.to_pandas()``)
dbt-bigquery, BigQuery        BigQuery DataFrames             bigframes Session   no
DataFrames (``bigframes``)    (``.to_pandas()``)
============================  ==============================  ==================  ==========

Only DuckDB and a local SparkSession (the stand-in for Databricks) are exercised here; the
Snowpark and BigQuery DataFrames branches are written from those libraries' documented APIs
and have never run against the real services.

Column names are lowercased on the way in: Snowflake folds unquoted identifiers to upper case,
and the pipeline names its columns in lower case. On the way out to Snowpark they are upper
cased again, so the written table's columns answer to unquoted lower-case names in SQL.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import duckdb
import pandas as pd

# The column kinds a pipeline output may have, and the Python type of their values. The
# names are the project's contract types (the data_type of python_models/_python_models.yml).
BIGINT, DOUBLE, BOOLEAN, VARCHAR = "bigint", "double precision", "boolean", "varchar"
PYTHON_TYPES: dict[str, Callable[[Any], object]] = {BIGINT: int, DOUBLE: float, BOOLEAN: bool, VARCHAR: str}
# What pandas infers for an object column, as a kind ("empty": every value missing).
INFERRED_KINDS = {
    "string": VARCHAR,
    "empty": VARCHAR,
    "boolean": BOOLEAN,
    "integer": BIGINT,
    "floating": DOUBLE,
    "mixed-integer-float": DOUBLE,
}


def _has_method(value: object, name: str) -> bool:
    """Whether the value's class defines ``name``: looked up on the class, because a PySpark
    DataFrame answers any unknown attribute with the column of that name."""
    return callable(getattr(type(value), name, None))


def _type_name(value: object) -> str:
    kind = type(value)
    return f"{kind.__module__}.{kind.__qualname__}"


def _lowercase_columns(frame: pd.DataFrame) -> pd.DataFrame:
    names = [str(column).lower() for column in frame.columns]
    if len(set(names)) != len(names):
        raise ValueError(f"column names collide when lowercased: {list(frame.columns)}")
    if names == list(frame.columns):
        return frame
    return frame.set_axis(names, axis="columns")


def to_pandas(frame: object) -> pd.DataFrame:
    """What ``dbt.ref()`` returned, as a pandas DataFrame with lower-case column names.

    A pandas DataFrame as is; a PySpark DataFrame (classic or Spark Connect) by
    ``toPandas()``; a Snowpark or BigQuery DataFrames frame by ``to_pandas()``; a DuckDB
    relation by ``df()``. Anything else is a TypeError that names its type.
    """
    if isinstance(frame, pd.DataFrame):
        converted: object = frame
    elif _has_method(frame, "toPandas"):
        converted = frame.toPandas()  # type: ignore[attr-defined]
    elif _has_method(frame, "to_pandas"):
        converted = frame.to_pandas()  # type: ignore[attr-defined]
    elif _has_method(frame, "df"):
        converted = frame.df()  # type: ignore[attr-defined]
    else:
        raise TypeError(
            f"cannot read a {_type_name(frame)} as a table: a dbt Python model here takes a DuckDB "
            "relation, a PySpark, Snowpark or BigQuery DataFrames DataFrame, or a pandas DataFrame"
        )
    if not isinstance(converted, pd.DataFrame):
        raise TypeError(f"converting a {_type_name(frame)} gave a {_type_name(converted)}, not pandas")
    return _lowercase_columns(converted)


def column_kind(column: pd.Series) -> str:
    """The contract type of a pipeline output column: from its dtype, or for an object column
    from its values (a string column with missing values, say). Other dtypes are a TypeError."""
    dtype = column.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return BOOLEAN
    if pd.api.types.is_integer_dtype(dtype):
        return BIGINT
    if pd.api.types.is_float_dtype(dtype):
        return DOUBLE
    if isinstance(dtype, pd.StringDtype):
        return VARCHAR
    if pd.api.types.is_object_dtype(dtype):
        inferred = pd.api.types.infer_dtype(column, skipna=True)
        if inferred in INFERRED_KINDS:
            return INFERRED_KINDS[inferred]
        raise TypeError(f"column {column.name!r} holds {inferred} values, not one writable type")
    raise TypeError(f"column {column.name!r} has dtype {dtype}, which the Python models never write")


def column_kinds(frame: pd.DataFrame) -> list[tuple[str, str]]:
    """Each column's name and contract type, in the frame's order."""
    return [(str(name), column_kind(frame[name])) for name in frame.columns]


def python_values(column: pd.Series, kind: str) -> list[object]:
    """The column's values as Python objects of its kind, each missing value (None, NaN,
    pd.NA) as None: SQL NULL on every platform, as DuckDB reads a pandas NaN."""
    convert = PYTHON_TYPES[kind]
    missing = column.isna().tolist()
    return [None if gone else convert(value) for value, gone in zip(column.tolist(), missing, strict=True)]


def python_rows(frame: pd.DataFrame, kinds: list[tuple[str, str]]) -> list[tuple[object, ...]]:
    """The frame's rows as tuples of Python values (see ``python_values``), in column order."""
    columns = [python_values(frame[name], kind) for name, kind in kinds]
    return list(zip(*columns, strict=True)) if columns else [() for _ in range(len(frame))]


def to_spark(frame: pd.DataFrame, session: Any) -> Any:
    """A Spark DataFrame of the frame, with an explicit schema (every column nullable).

    Spark's own inference from pandas turns a nullable integer column into doubles or fails
    on pd.NA, and depends on whether Arrow is enabled; the schema from ``column_kinds`` and
    plain Python rows give the same table either way, with integers as LongType and missing
    values as NULL.
    """
    from pyspark.sql import types  # pyspark is present wherever a SparkSession is

    spark_types = {
        BIGINT: types.LongType(),
        DOUBLE: types.DoubleType(),
        BOOLEAN: types.BooleanType(),
        VARCHAR: types.StringType(),
    }
    kinds = column_kinds(frame)
    schema = types.StructType([types.StructField(name, spark_types[kind], True) for name, kind in kinds])
    return session.createDataFrame(python_rows(frame, kinds), schema=schema)


def is_duckdb_session(session: object) -> bool:
    """Whether ``session`` is a DuckDB connection: dbt-duckdb passes its cursor inside a wrapper
    that forwards every attribute, so the test is on the instance (``from_df``, which no other
    platform's session has), not only the class."""
    return isinstance(session, duckdb.DuckDBPyConnection) or callable(getattr(session, "from_df", None))


def to_platform(frame: pd.DataFrame, session: object) -> object:
    """A pipeline output as the platform of ``session`` writes it.

    - DuckDB connection (dbt-duckdb), bare or wrapped: the pandas frame itself.
    - Snowpark Session (dbt-snowflake; untested): ``session.create_dataframe`` of the frame,
      its column names upper cased (Snowflake's unquoted identifiers).
    - SparkSession, classic or Spark Connect (Databricks, dbt-spark, Dataproc): ``to_spark``.
    - BigQuery DataFrames Session (dbt-bigquery's bigframes mode; untested):
      ``session.read_pandas`` of the frame.

    Snowpark is tested for before Spark because its Session also has ``createDataFrame``.
    """
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"to_platform takes the pipeline's pandas DataFrame, got a {_type_name(frame)}")
    if is_duckdb_session(session):
        return frame
    if _has_method(session, "create_dataframe"):
        upper = frame.set_axis([str(column).upper() for column in frame.columns], axis="columns")
        return session.create_dataframe(upper)  # type: ignore[attr-defined]
    if _has_method(session, "createDataFrame"):
        return to_spark(frame, session)
    if _has_method(session, "read_pandas"):
        return session.read_pandas(frame)  # type: ignore[attr-defined]
    raise TypeError(
        f"cannot write to a {_type_name(session)} session: a dbt Python model here runs on DuckDB, "
        "Spark (Databricks), Snowpark or BigQuery DataFrames"
    )
