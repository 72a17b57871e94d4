"""End to end: the data step and `dbt build` on the real MIMIC-IV demo 2.2.

Builds into a temporary DuckDB file (MIMIC_SEGMENTS_DB) with its own target path, so it never
touches a developer's database, then checks facts of the real demo and the contracts of the
marts: 100 patients, 275 admissions, 4,506 diagnosis rows, 140 ICU stays, ICD-9 leading zeros,
one cluster per patient, identical output on a rerun.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

pytestmark = pytest.mark.e2e


def scalar(db: duckdb.DuckDBPyConnection, sql: str) -> object:
    row = db.execute(sql).fetchone()
    assert row is not None
    return row[0]


@pytest.mark.parametrize(
    ("relation", "rows"),
    [
        ("raw.patients", 100),
        ("raw.admissions", 275),
        ("raw.diagnoses_icd", 4506),
        ("raw.icustays", 140),
        ("raw.d_icd_diagnoses", 109775),
        ("staging.stg_mimic__patients", 100),
        ("staging.stg_mimic__admissions", 275),
        ("staging.stg_mimic__diagnoses_icd", 4506),
        ("staging.stg_mimic__icustays", 140),
        ("marts.patient_features", 100),
        ("marts.patient_clusters", 100),
    ],
)
def test_real_demo_row_counts(db: duckdb.DuckDBPyConnection, relation: str, rows: int) -> None:
    assert scalar(db, f"select count(*) from {relation}") == rows


def test_features_reconcile_with_the_source_tables(db: duckdb.DuckDBPyConnection) -> None:
    totals = db.execute(
        "select sum(num_admissions), sum(icu_stay_count), round(sum(total_icu_days), 6),"
        " count(distinct subject_id) from marts.patient_features"
    ).fetchone()
    # 515.113067... is the sum of icustays.los in the demo release.
    assert totals == (275, 140, pytest.approx(515.113067, abs=1e-6), 100)


def test_icd9_leading_zeros_survive(db: duckdb.DuckDBPyConnection) -> None:
    column_type = scalar(
        db,
        "select data_type from information_schema.columns"
        " where table_schema = 'raw' and table_name = 'diagnoses_icd' and column_name = 'icd_code'",
    )
    assert column_type == "VARCHAR"
    assert scalar(db, "select count(*) from staging.stg_mimic__diagnoses_icd where icd_code like '0%'") == 60
    assert scalar(db, "select count(*) from staging.stg_mimic__diagnoses_icd where icd_code = '0389'") > 0
    # every coded diagnosis finds its title, which a lost zero on either side would break
    assert (
        scalar(
            db,
            "select count(*) from staging.stg_mimic__diagnoses_icd d"
            " left join staging.stg_mimic__d_icd_diagnoses t using (icd_version, icd_code)"
            " where t.long_title is null",
        )
        == 0
    )


def test_each_patient_in_exactly_one_of_four_clusters(db: duckdb.DuckDBPyConnection) -> None:
    per_patient = db.execute(
        "select f.subject_id, count(c.subject_id) as n from marts.patient_features f"
        " left join marts.patient_clusters c using (subject_id) group by f.subject_id having n <> 1"
    ).fetchall()
    assert per_patient == []
    assert scalar(db, "select count(distinct cluster_id) from marts.patient_clusters") == 4
    assert scalar(db, "select min(cluster_id) from marts.patient_clusters") == 0
    assert scalar(db, "select sum(num_patients) from marts.segment_profiles") == 100
    assert scalar(db, "select sum(share_of_patients) from marts.segment_profiles") == pytest.approx(1.0)


def test_days_since_last_admission_is_within_each_patient_timeline(db: duckdb.DuckDBPyConnection) -> None:
    low, high = db.execute(
        "select min(days_since_last_admission), max(days_since_last_admission) from marts.patient_features"
    ).fetchone()
    # Within a patient's own timeline the gap is at most the span of the release (2008-2019).
    assert 0 <= low <= high <= 12 * 366


def _table_fingerprint(db_path: str, relation: str) -> list[tuple[object, ...]]:
    with duckdb.connect(db_path, read_only=True) as connection:
        return connection.execute(f"select * from {relation} order by all").fetchall()


RERUN_MODELS = [
    "patient_features",
    "segmentation_diagnostics",
    "segment_centroids",
    "segment_personas",
    "patient_clusters",
    "patient_nearest_centroid",
    "patient_segments",
    "segment_profiles",
    "segment_top_diagnoses",
    "segment_demographic_mix",
]


def test_rerun_gives_identical_tables(built: dict[str, str], dbt: Callable[..., object]) -> None:
    relations = [f"marts.{model}" for model in RERUN_MODELS]
    before = {r: _table_fingerprint(built["MIMIC_SEGMENTS_DB"], r) for r in relations}
    dbt("run", "--select", *RERUN_MODELS)
    after = {r: _table_fingerprint(built["MIMIC_SEGMENTS_DB"], r) for r in relations}
    for relation in relations:
        changed = [(b, a) for b, a in zip(before[relation], after[relation], strict=True) if a != b]
        assert changed == [], f"{relation} changed on rerun: {changed[:3]}"


def test_every_node_and_column_is_described(built: dict[str, str], dbt: Callable[..., object]) -> None:
    """`dbt docs generate` works and describes every model, seed, column, macro and test."""
    dbt("docs", "generate")
    target = Path(built["DBT_TARGET_PATH"])
    manifest = json.loads((target / "manifest.json").read_text())
    catalog = json.loads((target / "catalog.json").read_text())
    missing: list[str] = []
    for unique_id, entry in catalog["nodes"].items():
        node = manifest["nodes"][unique_id]
        if not node["description"].strip():
            missing.append(unique_id)
        documented = {name.lower(): col for name, col in node["columns"].items()}
        for column in entry["columns"]:
            if not documented.get(column.lower(), {}).get("description", "").strip():
                missing.append(f"{unique_id}.{column}")
    assert missing == []
    undocumented_macros = [
        name
        for name, macro in manifest["macros"].items()
        if macro["package_name"] == "mimic_segments" and not macro["description"].strip()
    ]
    assert undocumented_macros == []
