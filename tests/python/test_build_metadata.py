"""The demo build's own record: which build, what it read, how the source data measured up."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_build_metadata_names_the_build_that_wrote_the_file(
    built: dict[str, str], db: duckdb.DuckDBPyConnection
) -> None:
    rows = db.execute(
        "select build_id, build_started_at, build_finished_at, source_mode, source_release,"
        " result_vars_json, dbt_version from marts.build_metadata"
    ).fetchall()
    assert len(rows) == 1
    build_id, started, finished, mode, release, result_vars, dbt_version = rows[0]
    run_results = json.loads((Path(built["DBT_TARGET_PATH"]) / "run_results.json").read_text())
    assert len(build_id) == 36 and build_id.count("-") == 4
    assert started <= finished
    assert (mode, release) == ("demo_seeds", "mimic-iv-demo/2.2 (seeds/mimic_demo/.manifest.json)")
    shaping = json.loads(result_vars)
    assert shaping["cluster_k"] == 4 and shaping["dq_max_hospital_stay_days"] == 3650
    assert shaping["quarantine_row_defects"] is False
    assert dbt_version == run_results["metadata"]["dbt_version"]


def test_build_sources_match_the_data_steps_manifest(db: duckdb.DuckDBPyConnection) -> None:
    manifest = json.loads((REPO_ROOT / "seeds" / "mimic_demo" / ".manifest.json").read_text())
    rows = db.execute(
        "select source_table, size_bytes, sha256, num_staged_rows from marts.build_sources order "
        "by source_table"
    ).fetchall()
    assert [(table, staged) for table, _, _, staged in rows] == [
        ("admissions", 275),
        ("d_icd_diagnoses", 109_775),
        ("diagnoses_icd", 4_506),
        ("icustays", 140),
        ("patients", 100),
        ("transfers", 1_190),
    ]
    for table, size, digest, _ in rows:
        entry = manifest["tables"][f"{table}.csv"]
        assert (size, digest) == (entry["csv_bytes"], entry["csv_sha256"])


def test_every_data_quality_check_passes_on_the_demo(db: duckdb.DuckDBPyConnection) -> None:
    checks = dict(
        db.execute(
            "select check_name, observed_value from marts.data_quality_checks where has_passed"
        ).fetchall()
    )
    # 15 checks, transfers' row check, and 3 derived-column consistency checks
    assert db.execute("select count(*) from marts.data_quality_checks").fetchone() == (19,)
    assert len(checks) == 19
    assert round(checks["diagnoses_per_admission_typical"], 2) == 16.39  # 4,506 / 275
    assert checks["admissions_per_patient_typical"] == 2.75  # 275 / 100
    assert round(checks["icustays_per_admission_typical"], 3) == 0.509  # 140 / 275
    assert checks["share_of_patients_admitted_typical"] == 1.0
