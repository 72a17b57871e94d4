"""Export the BI marts to Parquet, for tools that read files rather than a database.

``python -m mimic_segments.reporting.export [--database PATH] [--schema marts] [--out exports]`` writes
one ``<table>.parquet`` per table of the schema, through a read-only connection (so it can run
beside a BI tool that holds the database open), and prints each table's row count.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import duckdb

from mimic_segments.publishing.duckdb_file import published_database

DEFAULT_SCHEMA = "marts"
DEFAULT_OUT = Path("exports")


class ExportError(Exception):
    """The database or schema to export is missing."""


@dataclass(frozen=True)
class ExportedTable:
    table: str
    path: Path
    rows: int


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def export_schema(database: Path, out: Path, schema: str = DEFAULT_SCHEMA) -> list[ExportedTable]:
    """Write every base table of ``schema`` in ``database`` to ``out/<table>.parquet``."""
    if not database.is_file():
        raise ExportError(f"{database}: database not found; build it first with `make build`")
    out.mkdir(parents=True, exist_ok=True)
    exported: list[ExportedTable] = []
    with duckdb.connect(str(database), read_only=True) as connection:
        tables = [
            row[0]
            for row in connection.execute(
                "select table_name from information_schema.tables"
                " where table_schema = ? and table_type = 'BASE TABLE' order by table_name",
                [schema],
            ).fetchall()
        ]
        if not tables:
            raise ExportError(f"{database}: schema '{schema}' holds no tables; run `make build` first")
        for table in tables:
            target = out / f"{table}.parquet"
            tmp = target.with_suffix(".parquet.tmp")
            relation = f"{_quote(schema)}.{_quote(table)}"
            # order by all: the file's row order is stable from one export to the next
            connection.execute(
                f"copy (select * from {relation} order by all) to '{tmp.as_posix()}' (format parquet)"
            )
            os.replace(tmp, target)
            count = connection.execute(f"select count(*) from {relation}").fetchone()
            exported.append(ExportedTable(table, target, int(count[0]) if count else 0))
    return exported


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mimic_segments.reporting.export", description=__doc__)
    parser.add_argument(
        "--database",
        type=Path,
        default=published_database(),
        help="DuckDB file (default: the published database, $MIMIC_SEGMENTS_DB or mimic_segments.duckdb)",
    )
    parser.add_argument("--schema", default=DEFAULT_SCHEMA, help="schema to export (default: marts)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default: exports)")
    args = parser.parse_args(argv)
    try:
        exported = export_schema(args.database, args.out, args.schema)
    except ExportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for item in exported:
        print(f"{item.path}  {item.rows:,} rows")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
