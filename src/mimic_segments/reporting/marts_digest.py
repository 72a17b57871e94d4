"""A digest of the marts' values, to hold them across a refactor.

``docs/marts_digest.json`` records, for each mart a BI tool reads, its row count and one
SHA-256 per column over the column's values in a canonical row order. The test
``test_marts_digest`` rebuilds the demo and compares: a refactor that is meant to change no
value must leave every digest as it was, and a failure names the table and the column.
Floating-point values enter at 9 significant digits, so a different but equivalent summation
order does not count as a change; everything else enters exactly.

When a change is *meant* to move values, rewrite the file and say why in the commit::

    python -m mimic_segments.reporting.marts_digest --db mimic_segments.duckdb --write docs/marts_digest.json

``RENAMED`` maps a column's new name to the name it had when the digest was taken, and
``RENAMED_WORDS`` a renamed word to its old spelling in column names and in text values (e.g.
a feature's name in ``segment_profiles.feature_name``), so a rename is documented here and
its values are still checked.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import duckdb

from mimic_segments import PROJECT_ROOT

REPO_ROOT = PROJECT_ROOT
DEFAULT_DIGEST = REPO_ROOT / "docs" / "marts_digest.json"
# The schemas of the marts layer: `marts`, what BI reads, and `segmentation`, the models behind
# the segments (features, the fitted model, the SQL scorer). Which table is in which is dbt's
# to say (dbt_project.yml); readers look it up (``mart_schema``).
SCHEMAS = ("marts", "segmentation")
# The marts whose values are the project's results. Not the per-build tables (build id, time).
TABLES = (
    "patient_features",
    "admission_comorbidities",
    "segmentation_diagnostics",
    "segment_centroids",
    "segment_personas",
    "patient_clusters",
    "patient_nearest_centroid",
    "patient_segments",
    "segments",
    "segment_profiles",
    "segment_profiles_wide",
    "segment_top_diagnoses",
    "segment_top_conditions",
    "segment_demographic_mix",
    "segment_return_curves",
)
# (table, new column name) -> the column's name when the digest was taken.
RENAMED: Mapping[tuple[str, str], str] = {}
# new word -> old word, in column names and text values. Empty: the digest was last taken after
# the 0.2.0 renames (readmissions_30d became early_readmissions), so it holds the new names.
RENAMED_WORDS: Mapping[str, str] = {}


def _old_spelling(text: str) -> str:
    for new, old in RENAMED_WORDS.items():
        text = text.replace(new, old)
    return text


SIGNIFICANT_DIGITS = 9


def _canonical(value: object) -> str:
    if value is None:
        return "\u2205"
    if isinstance(value, str):
        return repr(_old_spelling(value))
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        return f"{value:.{SIGNIFICANT_DIGITS}g}"
    return repr(value)


def mart_schema(connection: duckdb.DuckDBPyConnection, table: str) -> str:
    """The schema of the marts layer (``SCHEMAS``) that holds ``table`` in this database."""
    found = connection.execute(
        "select table_schema from information_schema.tables where table_name = ? and "
        "list_contains(?, table_schema)",
        [table, list(SCHEMAS)],
    ).fetchall()
    if len(found) != 1:
        raise LookupError(f"{table}: expected in one of the schemas {SCHEMAS}, found in {found}")
    return str(found[0][0])


def table_digest(connection: duckdb.DuckDBPyConnection, table: str) -> dict[str, object]:
    """Row count and one digest per column, rows in the order of all columns' canonical text."""
    relation = f'"{mart_schema(connection, table)}"."{table}"'
    cursor = connection.execute(f"select * from {relation}")
    columns = [d[0] for d in cursor.description]
    rows = sorted(tuple(_canonical(v) for v in row) for row in cursor.fetchall())
    digests = {}
    for position, column in enumerate(columns):
        hasher = hashlib.sha256()
        for row in rows:
            hasher.update(row[position].encode())
            hasher.update(b"\x1f")
        digests[column] = hasher.hexdigest()
    return {"rows": len(rows), "columns": digests}


def digest(database: Path, tables: Sequence[str] = TABLES) -> dict[str, dict[str, object]]:
    with duckdb.connect(str(database), read_only=True) as connection:
        return {table: table_digest(connection, table) for table in tables}


def compare(expected: Mapping[str, Mapping], actual: Mapping[str, Mapping]) -> list[str]:
    """Every difference, each naming the table and column; empty when the values are held.

    Columns are matched by name, through ``RENAMED``; a column that is new (not in the
    expected digest and not a rename) is reported too, so that additions are deliberate.
    """
    problems: list[str] = []
    for table, wanted in expected.items():
        got = actual.get(table)
        if got is None:
            problems.append(f"{table}: missing")
            continue
        if got["rows"] != wanted["rows"]:
            problems.append(f"{table}: {got['rows']} rows, expected {wanted['rows']}")
        old_names = {RENAMED.get((table, name), _old_spelling(name)): name for name in got["columns"]}
        for column, value in wanted["columns"].items():
            if column not in old_names:
                problems.append(f"{table}.{column}: missing (removed or renamed without a RENAMED entry)")
            elif got["columns"][old_names[column]] != value:
                problems.append(f"{table}.{old_names[column]}: values changed")
        for old, new in old_names.items():
            if old not in wanted["columns"]:
                problems.append(f"{table}.{new}: new column, not in the digest")
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", type=Path, required=True, help="a built database (the demo)")
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--write", type=Path, help="write the digest here")
    action.add_argument("--check", type=Path, help="compare with the digest here")
    args = parser.parse_args(argv)
    actual = digest(args.db)
    if args.write:
        args.write.write_text(json.dumps(actual, indent=1, sort_keys=True) + "\n")
        print(f"wrote {args.write}: {len(actual)} marts")
        return 0
    problems = compare(json.loads(args.check.read_text()), actual)
    for problem in problems:
        print(problem)
    print("marts hold their values" if not problems else f"{len(problems)} differences")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
