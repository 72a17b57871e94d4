"""Write, audit, publish: the command line of the two publishers (what ``make`` runs).

``python -m mimic_segments.publishing.publish build [--release] [-- <extra dbt build args>]``
(``make build``, ``make dbt-build``, ``make release-build``) builds the DuckDB file
``MIMIC_SEGMENTS_DB`` (default ``mimic_segments.duckdb``, the file BI reads) through a candidate
and publishes it in one rename (``mimic_segments.publishing.duckdb_file``); ``rollback`` swaps
the published and the previous version; ``status`` prints which builds they are.

``--target postgres`` (before the command) runs build, rollback and status on that dbt profile
target instead: candidate schemas swapped over the published ones in one transaction
(``mimic_segments.publishing.schema_swap``; ``make build-postgres``).

Paths come from the environment (``MIMIC_SEGMENTS_DB``, ``MIMIC_RELEASE_DIR``,
``MIMIC_RELEASE_FORMAT``, ``MIMIC_LAST_DATA_YEAR``), never through a shell, so spaces, quotes
and non-ASCII characters in them are fine. ``DBT_VARS`` (YAML or JSON) adds dbt vars, merged
with those of full-release mode, e.g. ``DBT_VARS='{quarantine_row_defects: true}'``.

Exit codes: 0 published (or printed), 1 failed with nothing published, 3 another build holds
the lock.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mimic_segments.publishing import duckdb_file
from mimic_segments.publishing.errors import BuildLockedError, PublishError
from mimic_segments.publishing.schema_swap import SchemaSwapPublisher


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--target",
        default=None,
        help="a dbt profile target on a warehouse (postgres): publish by schema swap "
        "(mimic_segments.publishing.schema_swap); default: the DuckDB file",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    build_parser = sub.add_parser("build", help="dbt build into a candidate, test, publish atomically")
    build_parser.add_argument("--release", action="store_true", help="full-release mode (MIMIC_RELEASE_DIR)")
    build_parser.add_argument(
        "dbt_args", nargs=argparse.REMAINDER, help="extra dbt build arguments (after --)"
    )
    sub.add_parser("rollback", help="swap the published database and its previous version")
    sub.add_parser("status", help="the published and previous builds (marts.build_metadata)")
    args = parser.parse_args(argv)
    if args.command == "build":
        args.dbt_args = args.dbt_args[1:] if args.dbt_args[:1] == ["--"] else args.dbt_args
    return args


def on_duckdb_file(args: argparse.Namespace, project_dir: Path) -> None:
    """The commands on the published DuckDB file."""
    database = duckdb_file.published_database()
    paths = duckdb_file.Paths.for_database(database)
    if args.command == "status":
        duckdb_file.status(paths)
    elif args.command == "rollback":
        duckdb_file.rollback(paths)
        print(f"Rolled back: {paths.published} is the previous version again ({paths.previous} the other).")
    else:
        duckdb_file.build(project_dir, database, args.dbt_args, release=args.release)


def on_warehouse(args: argparse.Namespace, project_dir: Path) -> None:
    """The same commands on a warehouse target: candidate schemas and a schema swap."""
    publisher = SchemaSwapPublisher(project_dir, args.target)
    engine = publisher.engine()
    if engine != "postgres":
        raise PublishError(
            f"target {args.target!r} is {engine}: schema swaps are implemented on PostgreSQL; "
            "a DuckDB target publishes its file without --target"
        )
    if args.command == "status":
        publisher.status()
    elif args.command == "rollback":
        publisher.rollback()
    else:
        if args.release:
            raise PublishError("--release reads MIMIC-IV files in place: DuckDB only")
        publisher.build(args.dbt_args)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    project_dir = Path.cwd()
    try:
        if args.target is None:
            on_duckdb_file(args, project_dir)
        else:
            on_warehouse(args, project_dir)
    except BuildLockedError as error:
        print(error, file=sys.stderr)
        return 3
    except PublishError as error:
        print(error, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
