"""Stored test failures (dbt's own store_failures, docs block `stored_failures`).

Every data test is configured with store_failures: dbt's test materialization writes each
test's rows to a table of schema `audit`, named after the test, on every run. A passing test
leaves its table empty, and a later build in which a failing test passes empties it again, so
the non-empty tables of `audit` are exactly the last build's failures and warnings. Checked on
the real demo build.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from conftest import rebuilt_on_a_copy, run_dbt

pytestmark = pytest.mark.e2e


def audit_tables(database: str) -> dict[str, int]:
    """Each table of schema audit that holds rows, and its row count."""
    with duckdb.connect(database, read_only=True) as db:
        names = [
            name
            for (name,) in db.execute(
                "select table_name from information_schema.tables where table_schema = 'audit'"
            ).fetchall()
        ]
        counts = {name: db.execute(f'select count(*) from audit."{name}"').fetchone()[0] for name in names}
        return {name: count for name, count in counts.items() if count}


def test_every_data_test_of_the_build_has_its_audit_table(built: dict[str, str]) -> None:
    """dbt's store_failures writes a table per test that ran, passing or not, named after it,
    and nothing else: no table outlives its test."""
    manifest = json.loads((Path(built["DBT_TARGET_PATH"]) / "manifest.json").read_text())
    # the tests the build ran (the prospective check's tests are disabled on the demo, with
    # their models); unit tests store nothing
    results = json.loads((Path(built["DBT_TARGET_PATH"]) / "run_results.json").read_text())["results"]
    ran_ids = {result["unique_id"] for result in results}
    ran = {
        node["alias"]
        for node in manifest["nodes"].values()
        if node["resource_type"] == "test" and node["unique_id"] in ran_ids
    }
    with duckdb.connect(built["MIMIC_SEGMENTS_DEV_DB"], read_only=True) as db:
        tables = {
            name
            for (name,) in db.execute(
                "select table_name from information_schema.tables where table_schema = 'audit'"
            ).fetchall()
        }
    # every column rule and table check is a test of its own (docs block contracts_and_constraints)
    assert len(ran) > 300 and ran == tables, (sorted(ran - tables), sorted(tables - ran))


def test_a_build_whose_tests_all_pass_stores_no_row(built: dict[str, str]) -> None:
    manifest = json.loads((Path(built["DBT_TARGET_PATH"]) / "manifest.json").read_text())
    data_tests = [node for node in manifest["nodes"].values() if node["resource_type"] == "test"]
    storing = [node for node in data_tests if node["config"].get("store_failures")]
    # every data test stores its failures (dbt_project.yml), each in a table of its own
    assert storing == data_tests and len(storing) > 300
    assert audit_tables(built["MIMIC_SEGMENTS_DEV_DB"]) == {}


def test_a_warning_keeps_its_rows_until_a_build_in_which_it_passes(
    built: dict[str, str], tmp_path: Path
) -> None:
    # the demo has 2.75 admissions per patient: below 3 the volume check warns
    env, result = rebuilt_on_a_copy(
        built, tmp_path, "--select", "data_quality_checks", "--vars", "{dq_admissions_per_patient: [3, 5]}"
    )
    assert "WARN=1" in result.stdout
    assert audit_tables(env["MIMIC_SEGMENTS_DEV_DB"]) == {"data_quality_warnings": 1}
    with duckdb.connect(env["MIMIC_SEGMENTS_DEV_DB"], read_only=True) as db:
        warned = db.execute("select check_name, observed_value from audit.data_quality_warnings").fetchall()
    assert warned == [("admissions_per_patient_typical", pytest.approx(2.75))]

    # the same test passes with the default thresholds: its table is emptied
    passed = run_dbt(env, "build", "--select", "data_quality_checks")
    assert "WARN=0" in passed.stdout and "ERROR=0" in passed.stdout
    assert audit_tables(env["MIMIC_SEGMENTS_DEV_DB"]) == {}
