"""Fit the segmentation outside dbt, for warehouses where dbt runs no Python models.

dbt runs this project's Python models (``python_models/``) on DuckDB; dbt-postgres and open
source dbt-spark cannot. There the build has three steps (``make build-postgres`` runs them all,
through ``mimic_segments.publishing.schema_swap``; ``make build-spark`` through ``--build``):

1. ``dbt build`` of everything up to the clustering inputs (``SQL_LAYER_ARGS``);
2. this module: read ``int_patients_prepared_for_segmentation`` and the seeds
   ``feature_catalogue``, ``persona_catalogue`` and ``persona_signatures`` through the
   warehouse connection of dbt's own profile target, run the same functions of
   ``mimic_segments.segmentation.pipeline`` the Python models run, with the same
   ``segmentation_settings`` config (read from dbt's manifest, as dbt renders it for them), and
   write ``segmentation_diagnostics``, ``segment_centroids`` and ``segment_personas`` to the
   relations those models own, with their declared column types;
3. ``dbt build`` of the rest (``MODEL_LAYER_ARGS``): the Python models' own data tests run on
   the written tables, the SQL scorer ``patient_nearest_centroid`` assigns every patient in the
   warehouse, and the segment marts read it through ``patient_cluster_assignments``.

Memory: the inputs are read through a server-side cursor in chunks of ``CHUNK_ROWS`` rows,
each turned into float columns at once, so the peak is the feature matrix (8 bytes per patient
and feature, as the full-population K-Means fit needs) plus one chunk. The diagnostics fit a
fixed-seed sample of at most var ``cluster_diagnostics_sample_size`` rows (the pipeline's own
cap). Patients are never scored here: that is step 3, in SQL.

``python -m mimic_segments.segmentation.warehouse [--target postgres]`` (``make fit-postgres``)
runs step 2 alone on the relations of the manifest dbt last wrote (``DBT_TARGET_PATH``, else
``target/``). With ``--build`` it runs the three steps in place on the target's schemas,
without publishing (``make build-spark``: Spark, through dbt-spark's local ``session`` method,
where a fit reads and writes through a SparkSession of its own).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mimic_segments.segmentation.pipeline import (
    ID_COLUMN,
    build_centroids,
    build_diagnostics,
    build_segment_personas,
    input_features,
    model_features,
)
from mimic_segments.segmentation.settings import SegmentationSettings

INPUTS = "int_patients_prepared_for_segmentation"
SEEDS = ("feature_catalogue", "persona_catalogue", "persona_signatures")
# The Python models this module stands in for, in the order they are fitted and written.
FITTED = ("segmentation_diagnostics", "segment_centroids", "segment_personas")
# The Python scorer: not written here (the SQL scorer assigns patients in the warehouse).
PYTHON_SCORER = "patient_clusters"
CHUNK_ROWS = 50_000
# Step 1: everything the fit reads, without the Python models and what is built on them
# (build_metadata waits for step 3, so its build id and finish time are the whole build's).
SQL_LAYER_ARGS = ("--exclude", "path:python_models+", "build_metadata")
# Step 3: everything built on the Python models, with their data tests, but not the models
# themselves (written by step 2) nor the Python scorer and its tests. `empty` indirect
# selection keeps the tests of the excluded models: the graph operator selects them.
MODEL_LAYER_ARGS = (
    "--select",
    "path:python_models+",
    "build_metadata",
    "--exclude",
    "resource_type:model,path:python_models",
    f"{PYTHON_SCORER}+",
    "--indirect-selection",
    "empty",
)


class WarehouseError(Exception):
    """The fit cannot run: no manifest, a missing node, or a column without a declared type."""


@dataclass(frozen=True)
class Output:
    """A fitted table: the relation its Python model owns and its declared column types."""

    relation: str
    column_types: Mapping[str, str]


@dataclass(frozen=True)
class FitPlan:
    """Where the fit reads and writes and with which settings, as dbt's manifest says."""

    inputs: str
    seeds: Mapping[str, str]
    outputs: Mapping[str, Output]
    settings_config: str


def _node(manifest: Mapping[str, Any], resource_type: str, name: str) -> Mapping[str, Any]:
    node = manifest.get("nodes", {}).get(f"{resource_type}.mimic_segments.{name}")
    if node is None:
        raise WarehouseError(f"dbt's manifest has no {resource_type} {name!r}")
    return node


def plan_from_manifest(manifest: Mapping[str, Any]) -> FitPlan:
    """The fit's relations and its ``segmentation_settings`` config, from dbt's manifest."""
    outputs = {}
    configs = set()
    for name in FITTED:
        node = _node(manifest, "model", name)
        types = {column: spec.get("data_type") for column, spec in node.get("columns", {}).items()}
        untyped = sorted(column for column, data_type in types.items() if not data_type)
        if untyped:
            raise WarehouseError(f"{name}: columns {untyped} declare no data_type")
        outputs[name] = Output(node["relation_name"], types)
        configs.add(node.get("config", {}).get("segmentation_settings"))
    if len(configs) != 1:
        raise WarehouseError(f"the segmentation models' segmentation_settings configs differ: {configs}")
    return FitPlan(
        inputs=_node(manifest, "model", INPUTS)["relation_name"],
        seeds={name: _node(manifest, "seed", name)["relation_name"] for name in SEEDS},
        outputs=outputs,
        settings_config=str(configs.pop()),
    )


def fit_tables(
    inputs: pd.DataFrame,
    feature_catalogue: pd.DataFrame,
    persona_catalogue: pd.DataFrame,
    persona_signatures: pd.DataFrame,
    settings_config: str,
) -> dict[str, pd.DataFrame]:
    """The tables of the three fitted Python models, computed as those models compute them."""
    settings = SegmentationSettings.from_dbt(settings_config, feature_catalogue, input_features(inputs))
    centroids = build_centroids(inputs, settings)
    persona_settings = SegmentationSettings.from_dbt(
        settings_config, feature_catalogue, model_features(centroids)
    )
    return {
        "segmentation_diagnostics": build_diagnostics(inputs, settings),
        "segment_centroids": centroids,
        "segment_personas": build_segment_personas(
            centroids, persona_catalogue, persona_signatures, persona_settings
        ),
    }


@dataclass(frozen=True)
class Warehouse:
    """A DB-API connection and what differs between drivers: the parameter placeholder and
    how to open a cursor that streams a large result instead of loading it."""

    connection: Any
    placeholder: str
    streaming_cursor_name: str | None = None

    def streaming_cursor(self) -> Any:
        if self.streaming_cursor_name:
            return self.connection.cursor(name=self.streaming_cursor_name)
        return self.connection.cursor()

    def replace_table(self, output: Output, frame: pd.DataFrame) -> None:
        """Replace ``output.relation`` with ``frame``, columns typed as declared, in one transaction."""
        columns = ", ".join(f"{c} {output.column_types[c]}" for c in frame.columns)
        values = ", ".join([self.placeholder] * len(frame.columns))
        rows = [tuple(_plain(v) for v in row) for row in frame.itertuples(index=False, name=None)]
        cursor = self.connection.cursor()
        try:
            cursor.execute(f"drop table if exists {output.relation}")
            cursor.execute(f"create table {output.relation} ({columns})")
            if rows:
                cursor.executemany(
                    f"insert into {output.relation} ({', '.join(frame.columns)}) values ({values})", rows
                )
            self.connection.commit()
        except Exception:
            self.connection.rollback()
            raise
        finally:
            cursor.close()


class _SparkCursor:
    """The DB-API subset ``_chunks`` reads with, over a SparkSession: rows come from
    ``toLocalIterator``, one partition at a time, so a large result is never collected whole."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self.description: list[tuple[str, ...]] = []
        self._rows: Iterator[Any] = iter(())

    def execute(self, sql: str) -> None:
        frame = self.session.sql(sql)
        self.description = [(field.name,) for field in frame.schema.fields]
        self._rows = frame.toLocalIterator()

    def fetchmany(self, size: int) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in itertools.islice(self._rows, size)]

    def close(self) -> None:
        self._rows = iter(())


class _SparkConnection:
    """A SparkSession where ``Warehouse`` expects a connection (cursor, close)."""

    def __init__(self, session: Any) -> None:
        self.session = session

    def cursor(self) -> _SparkCursor:
        return _SparkCursor(self.session)

    def close(self) -> None:
        # the metastore (Derby, embedded) admits one JVM: dbt's next step starts its own
        self.session.stop()


class SparkWarehouse(Warehouse):
    """Spark through a local SparkSession configured as dbt-spark's ``session`` method
    configures it (the profile's ``server_side_parameters``: metastore, warehouse directory).
    Tables are written from a Spark DataFrame with an explicit schema (``frames.to_spark``),
    Parquet as the project's Spark tables are; Spark has no transactions, so a table is dropped
    and written again."""

    def replace_table(self, output: Output, frame: pd.DataFrame) -> None:
        from mimic_segments.segmentation.frames import column_kinds, to_spark

        # to_spark types each column by its kind, named as the contracts name types: it must
        # be the declared one (Spark would otherwise keep whatever pandas held)
        differing = {
            name: (kind, output.column_types[name])
            for name, kind in column_kinds(frame)
            if kind != output.column_types[name]
        }
        if differing:
            raise WarehouseError(
                f"{output.relation}: column kinds differ from the declared types: {differing}"
            )
        session = self.connection.session
        session.sql(f"drop table if exists {output.relation}")
        to_spark(frame, session).write.format("parquet").saveAsTable(output.relation)


def _chunks(
    warehouse: Warehouse, sql: str, chunk_rows: int
) -> Iterator[tuple[list[str], list[tuple[Any, ...]]]]:
    cursor = warehouse.streaming_cursor()
    try:
        cursor.execute(sql)
        while True:
            rows = cursor.fetchmany(chunk_rows)
            # a named (server-side) cursor describes its columns only after the first fetch
            columns = [column[0] for column in cursor.description]
            yield columns, rows
            if not rows:
                return
    finally:
        cursor.close()


def read_inputs(warehouse: Warehouse, relation: str, chunk_rows: int = CHUNK_ROWS) -> pd.DataFrame:
    """The clustering inputs, ordered by patient: ``subject_id`` as int64, every feature as
    float64 (NULL as NaN, which the pipeline rejects by name), read ``chunk_rows`` at a time."""
    parts: list[pd.DataFrame] = []
    columns: list[str] = []
    for columns, rows in _chunks(warehouse, f"select * from {relation} order by {ID_COLUMN}", chunk_rows):
        if not rows:
            break
        chunk = pd.DataFrame.from_records(rows, columns=columns)
        parts.append(chunk.astype({c: "int64" if c == ID_COLUMN else "float64" for c in columns}))
    if not parts:
        raise WarehouseError(f"{relation} has no rows: nothing to cluster")
    return pd.concat(parts, ignore_index=True)[columns]


def read_table(warehouse: Warehouse, relation: str) -> pd.DataFrame:
    """A small table (a seed) as a data frame."""
    frames = [
        pd.DataFrame.from_records(rows, columns=columns)
        for columns, rows in _chunks(warehouse, f"select * from {relation}", CHUNK_ROWS)
    ]
    return pd.concat(frames, ignore_index=True)


def _plain(value: Any) -> Any:
    """A value a DB-API driver accepts: numpy scalars as Python ones, NaN and NA as NULL."""
    if value is None or value is pd.NA:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def write_table(warehouse: Warehouse, output: Output, frame: pd.DataFrame) -> None:
    """Replace ``output.relation`` with ``frame``, every column declared in YAML."""
    undeclared = [c for c in frame.columns if c not in output.column_types]
    if undeclared:
        raise WarehouseError(f"{output.relation}: columns {undeclared} are not declared in YAML")
    warehouse.replace_table(output, frame)


def fit_in_warehouse(warehouse: Warehouse, plan: FitPlan, chunk_rows: int = CHUNK_ROWS) -> dict[str, int]:
    """Step 2: read the inputs and seeds, fit, write the three tables; rows written per table."""
    inputs = read_inputs(warehouse, plan.inputs, chunk_rows)
    seeds = {name: read_table(warehouse, relation) for name, relation in plan.seeds.items()}
    tables = fit_tables(
        inputs,
        seeds["feature_catalogue"],
        seeds["persona_catalogue"],
        seeds["persona_signatures"],
        plan.settings_config,
    )
    for name in FITTED:
        write_table(warehouse, plan.outputs[name], tables[name])
    return {name: len(tables[name]) for name in FITTED}


def profile_credentials(profiles_dir: str | os.PathLike[str], target: str | None) -> Any:
    """The credentials of a target of this project's dbt profile, rendered by dbt itself
    (``env_var`` defaults and all), so the fit connects where ``dbt build`` does."""
    from dbt.config.profile import Profile
    from dbt.config.renderer import ProfileRenderer
    from dbt.flags import set_from_args
    from dbt_common.context import set_invocation_context

    set_invocation_context(os.environ)
    set_from_args(argparse.Namespace(profiles_dir=str(profiles_dir)), {})
    return Profile.render(ProfileRenderer({}), "mimic_segments", None, target).credentials


def connect(credentials: Any) -> Warehouse:
    """A connection to the warehouse the credentials name (PostgreSQL, a local Spark session;
    DuckDB for tests)."""
    if credentials.type == "postgres":
        import psycopg2

        connection = psycopg2.connect(
            host=credentials.host,
            port=credentials.port,
            user=credentials.user,
            password=credentials.password,
            dbname=credentials.database,
            connect_timeout=credentials.connect_timeout,
            application_name="mimic_segments.segmentation.warehouse",
        )
        return Warehouse(connection, "%s", streaming_cursor_name="mimic_segments_inputs")
    if credentials.type == "duckdb":
        import duckdb

        return Warehouse(duckdb.connect(credentials.path), "?")
    if credentials.type == "spark" and getattr(credentials.method, "value", credentials.method) == "session":
        from pyspark.sql import SparkSession

        builder = SparkSession.builder.enableHiveSupport()
        for name, value in (credentials.server_side_parameters or {}).items():
            builder = builder.config(name, value)
        return SparkWarehouse(_SparkConnection(builder.getOrCreate()), "?")
    raise WarehouseError(
        f"no connection for dbt adapter {credentials.type!r} yet (PostgreSQL, Spark's session method, DuckDB)"
    )


def load_manifest(target_path: Path) -> dict[str, Any]:
    path = target_path / "manifest.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise WarehouseError(
            f"{path} does not exist: run dbt (step 1, e.g. `make build-postgres`) first"
        ) from None


def run(
    profiles_dir: str | os.PathLike[str], target: str | None, target_path: Path, out: Any = sys.stdout
) -> dict[str, int]:
    """Step 2 against a profile target, on the relations of the manifest in ``target_path``."""
    plan = plan_from_manifest(load_manifest(target_path))
    warehouse = connect(profile_credentials(profiles_dir, target))
    try:
        written = fit_in_warehouse(warehouse, plan)
    finally:
        warehouse.connection.close()
    for name, rows in written.items():
        out.write(f"Fitted {plan.outputs[name].relation}: {rows} rows\n")
    return written


def build_in_steps(target: str, dbt_args: Sequence[str] = (), project_dir: Path | None = None) -> int:
    """The three steps in place, on the target's own schemas (no candidate, no swap): what
    ``make build-spark`` runs. Each step is a process of its own: a local Spark session's
    metastore (embedded Derby) admits one JVM at a time. Returns the first failing exit code."""
    dbt = str(Path(sys.executable).with_name("dbt"))
    steps = [
        [dbt, "build", "--target", target, *SQL_LAYER_ARGS, *dbt_args],
        [sys.executable, "-m", "mimic_segments.segmentation.warehouse", "--target", target],
        [dbt, "build", "--target", target, *MODEL_LAYER_ARGS, *dbt_args],
    ]
    for command in steps:
        print(f"$ {' '.join(Path(command[0]).name if i == 0 else part for i, part in enumerate(command))}")
        sys.stdout.flush()
        returncode = subprocess.run(command, cwd=project_dir, check=False).returncode
        if returncode != 0:
            return returncode
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default=None, help="the dbt profile target (default: the profile's)")
    parser.add_argument(
        "--build",
        action="store_true",
        help="run all three steps on the target's schemas (dbt build, this fit, dbt build)",
    )
    parser.add_argument("dbt_args", nargs="*", help="with --build: extra dbt build arguments, after --")
    args = parser.parse_args(argv)
    if args.build:
        if args.target is None:
            parser.error("--build needs --target")
        return build_in_steps(args.target, args.dbt_args)
    target_path = Path(os.environ.get("DBT_TARGET_PATH") or "target")
    try:
        run(os.environ.get("DBT_PROFILES_DIR") or ".", args.target, target_path)
    except WarehouseError as error:
        print(error, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
