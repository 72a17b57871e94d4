"""What keeps the SQL layer portable across engines, checked without starting one."""

from __future__ import annotations

from collections.abc import Iterator

import yaml

from mimic_segments import PROJECT_ROOT

# PostgreSQL truncates identifiers at 63 bytes; dbt refuses a relation whose name is longer.
# Unit tests and named data tests become relations under their own names (generic tests with
# generated names are hashed by dbt), as do models and seeds.
POSTGRES_MAX_IDENTIFIER = 63


def named_nodes() -> Iterator[tuple[str, str]]:
    """(where, name) for every node whose name becomes a relation name as written."""
    for path in sorted(PROJECT_ROOT.glob("models/**/*.yml")) + sorted(PROJECT_ROOT.glob("seeds/**/*.yml")):
        document = yaml.safe_load(path.read_text()) or {}
        where = str(path.relative_to(PROJECT_ROOT))
        for unit_test in document.get("unit_tests", []):
            yield where, unit_test["name"]
        for node in document.get("models", []) + document.get("seeds", []):
            yield where, node["name"]
            tests = list(node.get("data_tests", []))
            for column in node.get("columns", []):
                tests += column.get("data_tests", [])
            for test in tests:
                if isinstance(test, dict):
                    for arguments in test.values():
                        if isinstance(arguments, dict) and "name" in arguments:
                            yield where, arguments["name"]
    for folder in ("tests/singular", "models", "python_models"):
        for path in sorted(PROJECT_ROOT.glob(f"{folder}/**/*.sql")) + sorted(
            PROJECT_ROOT.glob(f"{folder}/**/*.py")
        ):
            yield str(path.relative_to(PROJECT_ROOT)), path.stem


def test_every_relation_name_fits_postgres() -> None:
    too_long = [
        f"{where}: {name} ({len(name)})"
        for where, name in named_nodes()
        if len(name) > POSTGRES_MAX_IDENTIFIER
    ]
    assert not too_long, too_long


def test_the_check_sees_unit_tests_and_named_tests() -> None:
    names = {name for _, name in named_nodes()}
    assert "patient_charlson_pools_admissions_then_applies_hierarchy" in names  # a unit test
    assert "persona_catalogue_has_one_segment_outside_clustering" in names  # a named data test
