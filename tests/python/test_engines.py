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
    nodes = list(named_nodes())
    # the names read include unit tests and named data tests, not only models
    names = {name for _, name in nodes}
    assert "patient_charlson_pools_admissions_then_applies_hierarchy" in names  # a unit test
    assert "anchor_year_groups_end_by_mimic_last_data_year" in names  # a named data test
    too_long = [
        f"{where}: {name} ({len(name)})" for where, name in nodes if len(name) > POSTGRES_MAX_IDENTIFIER
    ]
    assert not too_long, too_long


def contracted_marts() -> Iterator[tuple[str, dict]]:
    """(where, model) for every mart under an enforced contract (all of models/marts/ unless
    a model turns it off)."""
    for path in sorted(PROJECT_ROOT.glob("models/marts/*.yml")):
        for model in (yaml.safe_load(path.read_text()) or {}).get("models", []):
            if model.get("config", {}).get("contract", {}).get("enforced", True):
                yield str(path.relative_to(PROJECT_ROOT)), model


def test_every_not_null_constraint_is_also_tested() -> None:
    # Spark enforces no constraint on a Parquet table: there the contract's not_null
    # constraints hold only because matches_declared_contract checks them on every build.
    marts = list(contracted_marts())
    names = {model["name"] for _, model in marts}
    assert {"patient_features", "admission_comorbidities", "data_quality_checks"} <= names
    assert "segment_profiles_wide" not in names  # its generated columns keep it out of contracts
    untested = []
    for where, model in marts:
        constrained = [
            column["name"]
            for column in model.get("columns", [])
            if any(constraint.get("type") == "not_null" for constraint in column.get("constraints", []))
        ]
        tests = [test if isinstance(test, str) else next(iter(test)) for test in model.get("data_tests", [])]
        if constrained and "matches_declared_contract" not in tests:
            untested.append(f"{where}: {model['name']} ({len(constrained)} not_null constraints)")
    assert not untested, untested


DECLARED_RULES = ("unique", "accepted_range", "accepted_values")


def declared_rule_holders() -> Iterator[tuple[str, dict]]:
    """(where, node) for every model or seed with a column declaring a rule in its `meta`."""
    for path in (
        sorted(PROJECT_ROOT.glob("models/**/*.yml"))
        + sorted(PROJECT_ROOT.glob("python_models/*.yml"))
        + sorted(PROJECT_ROOT.glob("seeds/*.yml"))
    ):
        document = yaml.safe_load(path.read_text()) or {}
        for node in document.get("models", []) + document.get("seeds", []):
            if any(set(column.get("meta") or {}) & set(DECLARED_RULES) for column in node.get("columns", [])):
                yield str(path.relative_to(PROJECT_ROOT)), node


def test_every_declared_column_rule_is_checked() -> None:
    # unique, accepted_range and accepted_values declared in a column's meta are checked only
    # by matches_declared_contract: a relation without it would leave them unchecked.
    holders = list(declared_rule_holders())
    # the rules are read from staging, marts, Python models and seeds alike
    names = {node["name"] for _, node in holders}
    assert {"stg_mimic__patients", "patient_features", "segment_centroids", "persona_catalogue"} <= names
    unchecked = []
    for where, node in holders:
        tests = [test if isinstance(test, str) else next(iter(test)) for test in node.get("data_tests", [])]
        if "matches_declared_contract" not in tests:
            unchecked.append(f"{where}: {node['name']}")
    assert not unchecked, unchecked
