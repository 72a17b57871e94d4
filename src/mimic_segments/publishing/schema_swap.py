"""Write, audit, publish on PostgreSQL: build into candidate schemas, test, swap schemas.

``python -m mimic_segments.publishing.publish --target postgres build`` (``make build-postgres``):

1. takes a PostgreSQL advisory lock (a second build of the same database is refused);
2. drops the candidate schemas a failed build left (``raw__candidate``, ``marts__candidate``,
   ...: var ``schema_suffix``, macro ``generate_schema_name``);
3. builds into them in the three steps of ``mimic_segments.segmentation.warehouse`` (dbt build
   of the SQL layer; the segmentation fit; dbt build of the rest): every model and every test
   runs there while BI readers keep reading the published schemas;
4. only if every step passed: in one transaction, drops the ``<schema>__previous`` schemas,
   renames each published schema to ``<schema>__previous`` and each candidate to the published
   name. Readers see the old build or the new one, never a mix: the renames commit together.

On failure nothing published changes and the candidate schemas stay for inspection.
``rollback`` swaps each published schema with its ``__previous`` (run it again to undo);
``status`` prints both builds' ``build_metadata``.

What readers see (PostgreSQL's rules): a query running during the swap finishes on the tables
it started with (the rename does not wait for it, nor it for the rename); a statement that
starts after the commit resolves names to the new schemas, also inside a reader's transaction
that began before it (per statement, not per transaction). Dropping the old ``__previous``
waits for queries still reading it, at most ``LOCK_TIMEOUT``, after which the swap is rolled
back and the publish fails without changing anything. A view you create over the published
tables follows its tables when they are renamed (PostgreSQL binds views to tables, not names):
it shows the previous build after a swap, and the next swap would drop it, so the swap refuses
while such views exist; point BI tools at the tables by name instead.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from mimic_segments.publishing.dbt_run import (
    build_summary,
    check_data_step,
    check_release_dir,
    dbt_executable,
    dbt_target_dir,
    dbt_vars_args,
    provenance_env,
    run_streaming,
)
from mimic_segments.publishing.errors import BuildLockedError, PublishError
from mimic_segments.publishing.failures import FIRST_ROWS, failure_report, format_failing_row, locate_failures
from mimic_segments.segmentation import warehouse

CANDIDATE = "__candidate"
PREVIOUS = "__previous"
SWAP = "__swap"
# pg_try_advisory_lock key of the build lock: one build (or rollback) per database at a time
LOCK_KEY = 7_210_431_309
LOCK_TIMEOUT = "30s"


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def published_schemas(manifest: Mapping[str, Any], suffix: str = CANDIDATE) -> list[str]:
    """The published names of the schemas a candidate build writes: every enabled node's schema
    (models, seeds, tests storing failures), without the candidate suffix, sorted."""
    schemas = {
        node["schema"][: -len(suffix)]
        for node in manifest.get("nodes", {}).values()
        if node.get("config", {}).get("enabled", True) and str(node.get("schema", "")).endswith(suffix)
    }
    if not schemas:
        raise PublishError(f"dbt's manifest names no schema ending in {suffix!r}: not a candidate build")
    return sorted(schemas)


def swap_statements(schemas: Sequence[str], existing: set[str]) -> list[str]:
    """Publish: drop the old previous, published -> previous, candidate -> published."""
    statements = []
    for schema in schemas:
        if schema + CANDIDATE not in existing:
            continue
        if schema + PREVIOUS in existing:
            statements.append(f"drop schema {quote(schema + PREVIOUS)} cascade")
        if schema in existing:
            statements.append(f"alter schema {quote(schema)} rename to {quote(schema + PREVIOUS)}")
        statements.append(f"alter schema {quote(schema + CANDIDATE)} rename to {quote(schema)}")
    return statements


def rollback_statements(schemas: Sequence[str], existing: set[str]) -> list[str]:
    """Roll back: each published schema and its previous version trade names."""
    statements = []
    for schema in schemas:
        if schema + PREVIOUS not in existing:
            continue
        if schema in existing:
            statements.append(f"alter schema {quote(schema)} rename to {quote(schema + SWAP)}")
        statements.append(f"alter schema {quote(schema + PREVIOUS)} rename to {quote(schema)}")
        if schema in existing:
            statements.append(f"alter schema {quote(schema + SWAP)} rename to {quote(schema + PREVIOUS)}")
    return statements


def _existing_schemas(cursor: Any) -> set[str]:
    cursor.execute("select nspname from pg_namespace")
    return {row[0] for row in cursor.fetchall()}


def _foreign_views(cursor: Any, dropped: Sequence[str], ours: Sequence[str]) -> list[str]:
    """Views outside the build's schemas that read tables of schemas about to be dropped."""
    cursor.execute(
        """
        select distinct view_ns.nspname || '.' || view_class.relname
        from pg_depend as dependency
        inner join pg_rewrite as rule on dependency.objid = rule.oid
        inner join pg_class as view_class on rule.ev_class = view_class.oid
        inner join pg_namespace as view_ns on view_class.relnamespace = view_ns.oid
        inner join pg_class as read_class on dependency.refobjid = read_class.oid
        inner join pg_namespace as read_ns on read_class.relnamespace = read_ns.oid
        where dependency.classid = 'pg_rewrite'::regclass
            and read_ns.nspname = any(%s)
            and not view_ns.nspname = any(%s)
        order by 1
        """,
        (list(dropped), list(ours)),
    )
    return [row[0] for row in cursor.fetchall()]


def _in_one_transaction(connection: Any, cursor: Any, statements: Sequence[str]) -> None:
    """Run the renames and drops, then commit them together (or none, on any error)."""
    try:
        cursor.execute(f"set local lock_timeout = '{LOCK_TIMEOUT}'")
        for statement in statements:
            cursor.execute(statement)
        connection.commit()
    except Exception:
        connection.rollback()
        raise


def swap(connection: Any, schemas: Sequence[str]) -> list[str]:
    """Publish the candidate schemas in one transaction; return the schemas published."""
    with connection.cursor() as cursor:
        existing = _existing_schemas(cursor)
        # a schema the build names but writes nothing to (the target schema) has no candidate
        schemas = [s for s in schemas if s + CANDIDATE in existing]
        if not schemas:
            raise PublishError("no candidate schema exists: nothing to publish")
        ours = [name for s in schemas for name in (s, s + PREVIOUS, s + CANDIDATE)]
        blocking = _foreign_views(cursor, [s + PREVIOUS for s in schemas if s + PREVIOUS in existing], ours)
        if blocking:
            raise PublishError(
                f"views outside the build's schemas read the previous build: {blocking}. Publishing "
                "would drop them (PostgreSQL views follow renamed tables); drop or re-create them."
            )
        statements = swap_statements(schemas, existing)
        _in_one_transaction(connection, cursor, statements)
    return list(schemas)


def rollback_schemas(connection: Any, schemas: Sequence[str]) -> list[str]:
    """Trade each published schema with its previous version, in one transaction; return the
    schemas rolled back (those with a previous version)."""
    with connection.cursor() as cursor:
        existing = _existing_schemas(cursor)
        statements = rollback_statements(schemas, existing)
        if not statements:
            raise PublishError(f"No previous version to roll back to (no schema among {schemas} has one).")
        _in_one_transaction(connection, cursor, statements)
    return [schema for schema in schemas if schema + PREVIOUS in existing]


@contextlib.contextmanager
def build_lock(connection: Any) -> Iterator[None]:
    """Hold the database's build lock (a session-level advisory lock) for a build or rollback."""
    with connection.cursor() as cursor:
        cursor.execute("select pg_try_advisory_lock(%s)", (LOCK_KEY,))
        if not cursor.fetchone()[0]:
            raise BuildLockedError(
                "Another build or rollback of this PostgreSQL database is running; this one is refused."
            )
    connection.commit()
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("select pg_advisory_unlock(%s)", (LOCK_KEY,))
        connection.commit()


def _query(connection: Any, sql: str, limit: int) -> tuple[list[str], list[tuple[Any, ...]]] | None:
    """Columns and up to ``limit`` rows of a query, or None if it fails (a missing relation)."""
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql)
            columns = [d[0] for d in cursor.description or []]
            rows = cursor.fetchmany(limit)
        connection.commit()
    except Exception:
        connection.rollback()
        return None
    return columns, rows


def first_rows_reader(connection: Any) -> Callable[[str], tuple[str, ...]]:
    """A failing test's first rows, as ``failures.locate_failures`` lists them."""

    def first_rows(relation: str) -> tuple[str, ...]:
        found = _query(connection, f"select * from {relation}", FIRST_ROWS)
        if found is None:
            return ()
        columns, rows = found
        return tuple(format_failing_row(columns, row) for row in rows)

    return first_rows


def build_of(connection: Any, schema: str) -> dict[str, Any] | None:
    """The row of ``<schema>.build_metadata``, or None without one."""
    found = _query(connection, f"select * from {quote(schema)}.build_metadata", 1)
    if found is None or not found[1]:
        return None
    return dict(zip(found[0], found[1][0], strict=True))


class SchemaSwapPublisher:
    """Build, publish, roll back and report on a dbt profile target on PostgreSQL."""

    def __init__(self, project_dir: Path, target: str, env: dict[str, str] | None = None) -> None:
        self.project_dir = project_dir
        self.target = target
        self.env = dict(os.environ if env is None else env)
        self.profiles_dir = self.env.get("DBT_PROFILES_DIR") or str(project_dir)

    def engine(self) -> str:
        """The dbt adapter type of the target (``postgres``)."""
        return str(warehouse.profile_credentials(self.profiles_dir, self.target).type)

    def _connect(self) -> Any:
        credentials = warehouse.profile_credentials(self.profiles_dir, self.target)
        return warehouse.connect(credentials).connection

    def _dbt(
        self, dbt: Sequence[str], args: Sequence[str], env: dict[str, str], out: TextIO
    ) -> tuple[int, str, float]:
        started = time.time()
        command = [*dbt, *args, "--target", self.target]
        out.write(f"$ dbt {' '.join(command[len(dbt) :])}\n")
        out.flush()
        returncode, output = run_streaming(command, self.project_dir, env, out)
        return returncode, output, started

    def build(
        self,
        dbt_args: Sequence[str] = (),
        dbt: Sequence[str] | None = None,
        out: TextIO = sys.stdout,
    ) -> str | None:
        """Build the candidate schemas, test them, swap them in; return the published build id."""
        dbt = list(dbt or dbt_executable())
        check_data_step(self.project_dir, release=False)
        check_release_dir(self.env, release=False)
        vars_args = dbt_vars_args(self.env, release=False, schema_suffix=CANDIDATE)
        run_env = {**self.env, **provenance_env(self.project_dir), "DBT_PROFILES_DIR": self.profiles_dir}
        target_dir = dbt_target_dir(self.project_dir, run_env)
        connection = self._connect()
        try:
            with build_lock(connection):
                returncode, output, started = self._dbt(dbt, ["parse", *vars_args], run_env, out)
                if returncode != 0:
                    raise PublishError(f"dbt parse failed (exited {returncode}); nothing was published.")
                manifest = json.loads((target_dir / "manifest.json").read_text(encoding="utf-8"))
                schemas = published_schemas(manifest)
                with connection.cursor() as cursor:
                    for schema in schemas:
                        cursor.execute(f"drop schema if exists {quote(schema + CANDIDATE)} cascade")
                connection.commit()
                out.write(f"Building candidate schemas {', '.join(s + CANDIDATE for s in schemas)}\n")
                for step in ("sql layer", "fit", "model layer"):
                    if step == "fit":
                        self._fit(target_dir, out)
                        continue
                    selection = (
                        warehouse.SQL_LAYER_ARGS if step == "sql layer" else warehouse.MODEL_LAYER_ARGS
                    )
                    returncode, output, started = self._dbt(
                        dbt, ["build", *vars_args, *selection, *dbt_args], run_env, out
                    )
                    if returncode != 0:
                        failures = locate_failures(
                            target_dir, None, since=started, first_rows=first_rows_reader(connection)
                        )
                        raise PublishError(
                            failure_report(
                                returncode,
                                output,
                                failures,
                                f"Published schemas {', '.join(schemas)}: unchanged.",
                                ", ".join(s + CANDIDATE for s in schemas),
                            )
                        )
                build_id = (build_of(connection, "marts" + CANDIDATE) or {}).get("build_id")
                schemas = swap(connection, schemas)
        finally:
            connection.close()
        out.write(
            f"Published schemas {', '.join(schemas)} (build {build_id}); the schemas they replaced "
            f"are kept as <schema>{PREVIOUS} for `make rollback-postgres`\n"
        )
        return None if build_id is None else str(build_id)

    def _fit(self, target_dir: Path, out: TextIO) -> None:
        try:
            warehouse.run(self.profiles_dir, self.target, target_dir, out=out)
        except Exception as error:  # the fit's own errors, the driver's, the settings'
            raise PublishError(
                f"\nThe segmentation fit failed: {error}\nnothing was published; "
                "the candidate schemas are kept for inspection."
            ) from error

    def _schemas(self) -> list[str]:
        """The schemas a build publishes, from a parse of the project (no candidate needed)."""
        env = dict(self.env, DBT_PROFILES_DIR=self.profiles_dir)
        target_dir = dbt_target_dir(self.project_dir, env)
        result = subprocess.run(
            [
                *dbt_executable(),
                "parse",
                *dbt_vars_args(self.env, False, schema_suffix=CANDIDATE),
                "--target",
                self.target,
            ],
            cwd=self.project_dir,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise PublishError(f"dbt parse failed:\n{result.stdout[-3000:]}")
        return published_schemas(json.loads((target_dir / "manifest.json").read_text(encoding="utf-8")))

    def rollback(self, out: TextIO = sys.stdout) -> None:
        schemas = self._schemas()
        connection = self._connect()
        try:
            with build_lock(connection):
                schemas = rollback_schemas(connection, schemas)
        finally:
            connection.close()
        out.write(f"Rolled back: {', '.join(schemas)} hold the previous build again (run again to undo).\n")

    def status(self, out: TextIO = sys.stdout) -> None:
        connection = self._connect()
        try:
            for label, schema in (("published", "marts"), ("previous", "marts" + PREVIOUS)):
                out.write(f"{label}: schema {schema}: {build_summary(build_of(connection, schema))}\n")
        finally:
            connection.close()
