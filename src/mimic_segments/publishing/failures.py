"""The failure report of a build: which nodes failed, what they read, which column, which rows.

Read from the ``run_results.json`` and ``manifest.json`` of the dbt invocation that failed:
each failed node with its model (a test's attached node), the source files it reads (full-release
mode), the column, dbt's message, the first rows stored by ``store_failures`` and the relation
holding all of them. The first rows come from a reader the publisher passes (a DuckDB file, or a
warehouse connection); the report says nothing was published and what was kept.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

FIRST_ROWS = 5

FirstRowsReader = Callable[[str], tuple[str, ...]]


@dataclass(frozen=True)
class FailedNode:
    """One node of a failed ``dbt build``, located: what it reads, which column, which rows."""

    unique_id: str
    name: str
    status: str
    message: str
    model: str | None
    column: str | None
    files: tuple[str, ...]
    failures_relation: str | None
    first_rows: tuple[str, ...]

    def describe(self) -> str:
        lines = [f"- {self.unique_id.split('.')[0]} {self.name}: {self.status}"]
        if self.model:
            lines.append(f"    model:  {self.model}")
        if self.files:
            lines.append(f"    file:   {', '.join(self.files)}")
        if self.column:
            lines.append(f"    column: {self.column}")
        if self.message:
            error = [line.strip() for line in self.message.strip().splitlines() if line.strip()]
            lines.append(f"    error:  {error[0][:400]}")
            lines.extend(f"            {line[:400]}" for line in error[1:8])
        if self.first_rows:
            lines.append(f"    first failing rows ({len(self.first_rows)} shown):")
            lines.extend(f"      {row}" for row in self.first_rows)
        if self.failures_relation:
            lines.append(f"    all failing rows: select * from {self.failures_relation}")
        return "\n".join(lines)


def explain_dbt_output(output: str) -> list[str]:
    """Turn dbt messages that do not say what to do into ones that do."""
    hints = []
    for node, missing in re.findall(
        r"'([\w.]+)'[^'\n]*?depends on a node named '(\w+)'\s+which was not found", output
    ):
        hints.append(
            f"{node} needs {missing}, which the data step writes into seeds/: run `make data` "
            "(or `make build`), then build again."
        )
    return hints


def failure_report(
    returncode: int,
    output: str,
    failures: Sequence[FailedNode],
    published_state: str,
    candidate: str | None,
) -> str:
    """What a failed build prints: the dbt exit, hints, each failed node, what was kept."""
    report = [f"\nBuild failed (dbt exited {returncode}); nothing was published."]
    report.extend(explain_dbt_output(output))
    report.extend(node.describe() for node in failures)
    report.append(published_state)
    if candidate:
        report.append(f"Candidate kept for inspection: {candidate}")
    return "\n".join(report)


def tested_column(node: dict[str, Any]) -> str | None:
    """The column a test checks: dbt's ``column_name`` for a test declared under a column, else
    the ``column_name`` argument of a model-level test (``column_sum_matches``: the column it
    reconciles), which dbt does not copy to the node's ``column_name``."""
    kwargs = (node.get("test_metadata") or {}).get("kwargs") or {}
    column = node.get("column_name") or kwargs.get("column_name")
    return str(column) if column else None


def _source_files(manifest: dict[str, Any], node: dict[str, Any]) -> tuple[str, ...]:
    files = []
    for parent in node.get("depends_on", {}).get("nodes", []):
        source = manifest.get("sources", {}).get(parent)
        if source is None:
            continue
        meta = source.get("meta", {})
        extension = ".parquet" if meta.get("release_format") == "parquet" else ".csv.gz"
        if meta.get("release_dir") and meta.get("module"):
            release_dir = str(meta["release_dir"]).replace("''", "'")
            files.append(f"{release_dir}/{meta['module']}/{source['identifier']}{extension}")
    return tuple(files)


def format_failing_row(columns: Sequence[str], row: Sequence[Any]) -> str:
    """One stored failing row as ``column=value, ...``."""
    return ", ".join(f"{c}={'null' if v is None else v}" for c, v in zip(columns, row, strict=True))


# A NULL refused by a not_null constraint of an enforced contract: DuckDB's message, then
# PostgreSQL's. Both name the table and the column, neither the row.
NOT_NULL_REFUSED = (
    re.compile(r"NOT NULL constraint failed: [^\s.]+\.\"?(\w+)"),
    re.compile(r'null value in column "(\w+)"[^\n]*violates not-null constraint'),
)


def refused_null_column(message: str) -> str | None:
    """The column whose not_null constraint refused a row, if ``message`` says so."""
    for pattern in NOT_NULL_REFUSED:
        found = pattern.search(message)
        if found:
            return found.group(1)
    return None


def refused_rows_query(compiled_code: str, column: str) -> str:
    """The rows a model's query would have inserted with a NULL in ``column``, as a relation
    a first-rows reader can select from: the model's compiled query, filtered."""
    query = compiled_code.strip().rstrip(";")
    return f'(select * from ({query}) as model_rows where "{column}" is null) as refused_rows'


def duckdb_first_rows(database: Path) -> FirstRowsReader:
    """A failing test's first stored rows, read from the DuckDB file ``database`` (read-only);
    none if the file or the relation is missing."""

    def first_rows(relation: str) -> tuple[str, ...]:
        if not database.exists():
            return ()
        try:
            with duckdb.connect(str(database), read_only=True) as connection:
                cursor = connection.execute(f"select * from {relation} limit {FIRST_ROWS}")
                columns = [d[0] for d in cursor.description or []]
                return tuple(format_failing_row(columns, row) for row in cursor.fetchall())
        except duckdb.Error:
            return ()

    return first_rows


def locate_failures(
    target_dir: Path,
    database: Path | None,
    since: float = 0.0,
    first_rows: FirstRowsReader | None = None,
) -> list[FailedNode]:
    """The failed nodes of the dbt invocation that wrote run_results.json, each located; none
    if that file is older than ``since`` (dbt stopped before running anything this time).

    A failing test's first rows come from ``first_rows(relation)`` if given, else from the
    DuckDB file ``database`` (none without one)."""
    if first_rows is None:
        first_rows = duckdb_first_rows(database) if database else lambda relation: ()
    try:
        if (target_dir / "run_results.json").stat().st_mtime < since:
            return []
        results = json.loads((target_dir / "run_results.json").read_text(encoding="utf-8"))
        manifest = json.loads((target_dir / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    nodes = manifest.get("nodes", {})
    failed = []
    for result in results.get("results", []):
        if result.get("status") not in ("error", "fail"):
            continue
        node = nodes.get(result["unique_id"], {})
        model = None
        attached = node.get("attached_node")
        if attached:
            model = attached.split(".")[-1]
            files = _source_files(manifest, nodes.get(attached, {}))
        else:
            files = _source_files(manifest, node)
        relation = node.get("relation_name") if node.get("resource_type") == "test" else None
        column = tested_column(node)
        shown: tuple[str, ...] = first_rows(relation) if relation else ()
        # a model whose contract's not_null constraint refused a row: the database names the
        # column, the model's own query filtered on it shows the rows (and their keys)
        refused = refused_null_column(result.get("message") or "")
        if node.get("resource_type") == "model" and refused and result.get("compiled_code"):
            column = refused
            shown = first_rows(refused_rows_query(result["compiled_code"], refused))
        failed.append(
            FailedNode(
                unique_id=result["unique_id"],
                name=node.get("name") or result["unique_id"].split(".")[-1],
                status=result["status"],
                message=result.get("message") or "",
                model=model,
                column=column,
                files=files,
                failures_relation=relation,
                first_rows=shown,
            )
        )
    return failed
