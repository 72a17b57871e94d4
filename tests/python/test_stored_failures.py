"""Stored test failures (dbt's own store_failures, docs block `stored_failures`).

Every data test is configured with store_failures, so dbt's built-in test materialization
keeps each test's failing rows in schema `audit`, one relation per test, rebuilt on every run:
after a build whose tests all pass every one of them is empty, a warning's rows stay until a
build in which it passes. Checked on the real demo build.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from conftest import rebuilt_on_a_copy, run_dbt

pytestmark = pytest.mark.e2e


def audit_tables(database: str) -> dict[str, int]:
    """Each table of schema audit and its row count."""
    with duckdb.connect(database, read_only=True) as db:
        names = [
            name
            for (name,) in db.execute(
                "select table_name from information_schema.tables where table_schema = 'audit'"
            ).fetchall()
        ]
        return {name: db.execute(f'select count(*) from audit."{name}"').fetchone()[0] for name in names}


def test_a_build_whose_tests_all_pass_stores_nothing(built: dict[str, str]) -> None:
    manifest = json.loads((Path(built["DBT_TARGET_PATH"]) / "manifest.json").read_text())
    data_tests = [node for node in manifest["nodes"].values() if node["resource_type"] == "test"]
    storing = [node for node in data_tests if node["config"].get("store_failures")]
    # every data test stores its failures (dbt_project.yml), in a relation of its own
    assert storing == data_tests and len(storing) > 300
    # one relation per test the build ran (tests of models a var disables do not run)
    results = json.loads((Path(built["DBT_TARGET_PATH"]) / "run_results.json").read_text())["results"]
    ran = {result["unique_id"] for result in results}
    stored = audit_tables(built["MIMIC_SEGMENTS_DEV_DB"])
    assert set(stored) == {node["alias"] for node in data_tests if node["unique_id"] in ran}
    assert {name: rows for name, rows in stored.items() if rows} == {}


def test_a_warning_keeps_its_rows_until_a_build_in_which_it_passes(
    built: dict[str, str], tmp_path: Path
) -> None:
    # the demo has 2.75 admissions per patient: below 3 the volume check warns
    env, result = rebuilt_on_a_copy(
        built, tmp_path, "--select", "data_quality_checks", "--vars", "{dq_admissions_per_patient: [3, 5]}"
    )
    assert "WARN=1" in result.stdout
    stored = audit_tables(env["MIMIC_SEGMENTS_DEV_DB"])
    assert {name: rows for name, rows in stored.items() if rows} == {"data_quality_warnings": 1}
    with duckdb.connect(env["MIMIC_SEGMENTS_DEV_DB"], read_only=True) as db:
        warned = db.execute("select check_name, observed_value from audit.data_quality_warnings").fetchall()
    assert warned == [("admissions_per_patient_typical", pytest.approx(2.75))]

    # the same test passes with the default thresholds: its stale rows go
    passed = run_dbt(env, "build", "--select", "data_quality_checks")
    assert "WARN=0" in passed.stdout and "ERROR=0" in passed.stdout
    assert audit_tables(env["MIMIC_SEGMENTS_DEV_DB"])["data_quality_warnings"] == 0
