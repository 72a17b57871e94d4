"""`dbt build` passes with any documented value of every var, not only the defaults.

A unit test whose expected rows depend on a var must pin it (`overrides: vars:`); a data test
must read the var rather than repeat its default. One demo build with a non-default value of
every var that shapes the data catches both: a test that silently assumed the default fails
there. The vars that say where the MIMIC-IV tables are (source mode, release directory and
format, warehouse schemas) are built in their own modes by their own tests.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from conftest import REPO_ROOT, run_dbt

pytestmark = pytest.mark.e2e

# Every var of dbt_project.yml that shapes the data, with a value other than its default that
# the demo can still build. var cluster_features has no default (unset: the catalogue decides).
NON_DEFAULT: dict[str, object] = {
    "outreach_recent_days": 365,
    "outreach_max_priority": 3,
    "readmission_definition": "all_stays",
    "readmission_window_days": 7,
    "episode_max_gap_hours": 0,
    "frequent_ed_visits_per_year": 2,
    "feature_index": "first_year",
    "prospective_window_days": 180,
    "return_curve_horizon_days": 180,
    "clustering_population_min_admissions": 2,
    "persona_min_match_score": 0.3,
    "cluster_include_demographics": True,
    "cluster_features": [
        "num_admissions",
        "early_readmissions",
        "icu_stay_count",
        "charlson_condition_score",
    ],
    "cluster_k": 3,
    "cluster_k_min": 3,
    "cluster_k_max": 5,
    "cluster_random_state": 7,
    "cluster_diagnostics_sample_size": 60,
    "cluster_silhouette_sample_size": 50,
    "cluster_stability_resamples": 3,
    "cluster_min_stability": 0.5,
    "cluster_min_segment_share": 0.1,
    "segment_top_diagnoses_limit": 5,
    "dq_min_diagnoses_per_admission": 2,
    "dq_diagnoses_per_admission": [4, 40],
    "dq_admissions_per_patient": [1, 6],
    "dq_icustays_per_admission": [0.1, 2],
    "dq_share_of_patients_admitted": [0.5, 1],
    "dq_max_hospital_stay_days": 1000,
    "dq_warn_hospital_stay_days": 200,
    "dq_max_icu_stay_days": 1000,
    "dq_warn_icu_stay_days": 200,
    "dq_max_age_years": 110,
    "dq_max_derived_disagreement_seconds": 60,
    "quarantine_row_defects": True,
}

# Where the tables come from, and what publishing sets: each built by the tests of its mode.
LOCATION = {
    "mimic_source_mode": "test_release_mode.py, test_warehouse_mode.py",
    "mimic_warehouse_database": "test_warehouse_mode.py",
    "mimic_hosp_schema": "test_warehouse_mode.py",
    "mimic_icu_schema": "test_warehouse_mode.py",
    "mimic_release_dir": "test_release_mode.py",
    "mimic_release_format": "test_release_mode.py (Parquet copies)",
    "mimic_last_data_year": "test_release_mode.py (2022, a 3.1-shaped release)",
    "schema_suffix": "test_postgres.py (the candidate schemas)",
}


def project_vars() -> dict[str, object]:
    return yaml.safe_load((REPO_ROOT / "dbt_project.yml").read_text())["vars"]


def test_every_var_has_a_non_default_value_here_or_a_mode_test() -> None:
    declared = set(project_vars())
    assert declared - set(NON_DEFAULT) - set(LOCATION) == set()
    assert set(LOCATION) <= declared
    defaults = project_vars()
    for name, value in NON_DEFAULT.items():
        assert value != defaults.get(name), f"{name}: {value!r} is its default"


def test_a_build_with_every_var_changed_passes(dbt_env: dict[str, str], tmp_path: Path) -> None:
    env = {
        **dbt_env,
        "MIMIC_SEGMENTS_DEV_DB": str(tmp_path / "vars.duckdb"),
        "DBT_TARGET_PATH": str(tmp_path / "target"),
        "DBT_LOG_PATH": str(tmp_path / "logs"),
    }
    result = run_dbt(env, "build", "--vars", json.dumps(NON_DEFAULT))
    assert "ERROR=0" in result.stdout
