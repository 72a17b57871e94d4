"""Checks declared under `checks:` of a model's matches_declared_contract test (macro
declared_check, docs block `declared_checks`) run in that one test node, and still fail.

Each test breaks one relation of a copy of the real demo build the way a bug would (a fan-out,
a lost filter), re-runs only that model's contract test, and reads what it stored in schema
audit: the check that caught it, named as declared, and how many rows it returned.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import duckdb
import pytest
import yaml
from conftest import DBT, REPO_ROOT

pytestmark = pytest.mark.e2e


def replace_with(database: Path, schema: str, name: str, select_from_original: str) -> None:
    """Put `select_from_original` (over `original`) in place of schema.name, table or view."""
    with duckdb.connect(str(database)) as db:
        (kind,) = db.execute(
            "select table_type from information_schema.tables where table_schema = ? and table_name = ?",
            [schema, name],
        ).fetchone()
        relation = "view" if kind == "VIEW" else "table"
        db.execute(f"alter {relation} {schema}.{name} rename to {name}__original")
        db.execute(
            f"create table {schema}.{name} as "
            + select_from_original.replace("original", f"{schema}.{name}__original")
        )


def contract_test_on_a_copy(
    built: dict[str, str], work: Path, model: str, schema: str, select_from_original: str
) -> tuple[subprocess.CompletedProcess[str], list[tuple[str, str, str]]]:
    """Break `model` on a copy of the demo database, run its contract test; dbt's result and
    the failing rows the test stored, sorted."""
    copy = work / Path(built["MIMIC_SEGMENTS_DB"]).name
    shutil.copyfile(built["MIMIC_SEGMENTS_DB"], copy)
    replace_with(copy, schema, model, select_from_original)
    env = {
        **built,
        "MIMIC_SEGMENTS_DB": str(copy),
        "DBT_TARGET_PATH": str(work / "target"),
        "DBT_LOG_PATH": str(work / "logs"),
    }
    test = f"contract_{model}"
    result = subprocess.run(
        [str(DBT), "test", "--select", test],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    with duckdb.connect(str(copy), read_only=True) as db:
        stored = db.execute(f"select column_name, declared, found from audit.{test} order by 1, 2").fetchall()
    return result, stored


def test_a_fan_out_fails_the_reconciliations_and_the_grain(built: dict[str, str], tmp_path: Path) -> None:
    # one patient's row twice, as a join that multiplies rows would leave it
    result, stored = contract_test_on_a_copy(
        built,
        tmp_path,
        "int_admissions_aggregated_to_patients",
        "intermediate",
        "select * from original union all (select * from original order by subject_id limit 1)",
    )
    assert result.returncode == 1, result.stdout[-3000:]
    assert "Failure in test contract_int_admissions_aggregated_to_patients" in result.stdout
    assert stored == [
        (
            "num_admissions",
            "column_sum_matches(compare_expression=count(*), compare_model=int_admissions_in_feature_window)",
            "1 failing rows",
        ),
        ("subject_id", "unique", "1 repeated rows"),
        (
            "total_length_of_stay_days",
            "column_sum_matches(compare_expression=sum(length_of_stay_days),"
            " compare_model=int_admissions_in_feature_window)",
            "1 failing rows",
        ),
    ]


def test_a_check_with_where_reads_only_its_rows(
    built: dict[str, str], db: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    # On the demo some indexed patients returned: their days_to_return is set, so the check
    # "no return, no days" passed in the session's build only because its `where:
    # return_hadm_id is null` was applied.
    (returned,) = db.execute(
        "select count(*) from intermediate.int_patients_indexed_for_return where return_hadm_id is not null"
    ).fetchone()
    assert returned > 0
    # the returns' admission ids lost, as a broken join would leave them
    result, stored = contract_test_on_a_copy(
        built,
        tmp_path,
        "int_patients_indexed_for_return",
        "intermediate",
        "select * replace (cast(null as bigint) as return_hadm_id) from original",
    )
    assert result.returncode == 1, result.stdout[-3000:]
    assert stored == [
        (
            "",
            "expression_is_true(expression=days_to_return is null and return_admitted_at is null,"
            " where return_hadm_id is null)",
            f"{returned} failing rows",
        )
    ]


def test_every_contract_test_is_named_after_its_table() -> None:
    """`contract_<model>`: the name the audit table and dbt's log show (docs block declared_checks)."""
    named: dict[str, str] = {}
    for path in (
        sorted(REPO_ROOT.glob("models/**/*.yml"))
        + sorted(REPO_ROOT.glob("seeds/**/*.yml"))
        + sorted(REPO_ROOT.glob("python_models/**/*.yml"))
    ):
        document = yaml.safe_load(path.read_text()) or {}
        for node in document.get("models", []) + document.get("seeds", []):
            for test in node.get("data_tests", []):
                if test == "matches_declared_contract" or (
                    isinstance(test, dict) and "matches_declared_contract" in test
                ):
                    spec = test["matches_declared_contract"] if isinstance(test, dict) else {}
                    named[node["name"]] = spec.get("name", "")
    assert len(named) > 50
    assert {model: name for model, name in named.items() if name != f"contract_{model}"} == {}
