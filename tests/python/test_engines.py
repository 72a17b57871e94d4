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


def yaml_nodes() -> Iterator[tuple[str, dict]]:
    """(where, node) for every model and seed declared in the project's YAML."""
    for path in (
        sorted(PROJECT_ROOT.glob("models/**/*.yml"))
        + sorted(PROJECT_ROOT.glob("python_models/*.yml"))
        + sorted(PROJECT_ROOT.glob("seeds/*.yml"))
    ):
        document = yaml.safe_load(path.read_text()) or {}
        for node in document.get("models", []) + document.get("seeds", []):
            yield str(path.relative_to(PROJECT_ROOT)), node


def test_every_not_null_constraint_is_also_tested() -> None:
    # Spark enforces no constraint on a Parquet table, and no engine on a view, a Python model
    # or a seed: there the not_null constraints hold only because unenforced_contract checks
    # them, so every node declaring one carries it.
    marts = list(contracted_marts())
    names = {model["name"] for _, model in marts}
    assert {"patient_features", "admission_comorbidities", "data_quality_checks"} <= names
    assert "segment_profiles_wide" not in names  # its generated columns keep it out of contracts
    untested = []
    constrained_nodes = set()
    for where, node in yaml_nodes():
        constrained = [
            column["name"]
            for column in node.get("columns", [])
            if any(constraint.get("type") == "not_null" for constraint in column.get("constraints", []))
        ]
        tests = [test if isinstance(test, str) else next(iter(test)) for test in node.get("data_tests", [])]
        if constrained:
            constrained_nodes.add(node["name"])
        if constrained and "unenforced_contract" not in tests:
            untested.append(f"{where}: {node['name']} ({len(constrained)} not_null constraints)")
    assert {
        "stg_mimic__patients",
        "int_admissions_classified",
        "segment_centroids",
        "persona_catalogue",
    } <= constrained_nodes
    assert not untested, untested


def test_no_column_rule_is_left_in_meta() -> None:
    # column rules are dbt's own tests, which dbt's docs site and coverage tools see; a rule
    # written in a column's meta would be checked by nothing
    in_meta = [
        f"{where}: {node['name']}.{column['name']}"
        for where, node in yaml_nodes()
        for column in node.get("columns", [])
        if set(column.get("meta") or {}) & {"unique", "accepted_range", "accepted_values"}
    ]
    assert not in_meta, in_meta
