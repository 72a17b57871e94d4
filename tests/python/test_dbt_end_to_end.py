"""End to end: the data step and `dbt build` on the real MIMIC-IV demo 2.2.

Builds into a temporary DuckDB file (MIMIC_SEGMENTS_DEV_DB) with its own target path, so it never
touches a developer's database, then checks facts of the real demo and the contracts of the
marts: 100 patients, 275 admissions, 4,506 diagnosis rows, 140 ICU stays, ICD-9 leading zeros,
one cluster per patient, identical output on a rerun; and the clinical definitions: Charlson per
admission and per patient, HCUP chronic condition coverage, readmissions and outcomes.
(Charlson parity with MIT-LCP mimic-code is checked by scripts/check_charlson_parity.py, which
needs a local copy of the reference SQL.)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest
from conftest import rebuilt_on_a_copy

from mimic_segments.catalogue import features
from mimic_segments.reporting import marts_digest

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
        ("raw.transfers", 1190),
        ("raw.d_icd_diagnoses", 109775),
        ("staging.stg_mimic__patients", 100),
        ("staging.stg_mimic__admissions", 275),
        ("staging.stg_mimic__diagnoses_icd", 4506),
        ("staging.stg_mimic__icustays", 140),
        ("staging.stg_mimic__transfers", 1190),
        ("raw.hcup_chronic_condition_indicators", 13769 + 74549),
        ("raw.charlson_conditions", 17),
        ("raw.charlson_icd_codes", 309),
        ("intermediate.int_admissions_classified", 275),
        ("intermediate.int_admissions_grouped_to_episodes", 275),
        # 275 stays in 272 episodes: patient 10002930's three handoffs within 15 minutes
        ("intermediate.int_episodes_flagged_for_readmission", 272),
        ("intermediate.int_admissions_sequenced", 275),
        # 236 ED rows in transfers, two of them one visit (patient 10000032)
        ("intermediate.int_transfers_grouped_to_ed_visits", 235),
        ("intermediate.int_ed_visits_aggregated_to_episodes", 272),
        # one row per admission and code: the demo codes no code twice in an admission
        ("intermediate.int_diagnoses_distinct_per_admission", 4506),
        # one row per patient and code: a code coded in several admissions of a patient is one
        ("intermediate.int_diagnoses_classified_chronic", 3223),
        ("segmentation.admission_comorbidities", 275),
        ("segmentation.patient_features", 100),
        ("segmentation.patient_clusters", 100),
    ],
)
def test_real_demo_row_counts(db: duckdb.DuckDBPyConnection, relation: str, rows: int) -> None:
    assert scalar(db, f"select count(*) from {relation}") == rows


def test_features_reconcile_with_the_source_tables(db: duckdb.DuckDBPyConnection) -> None:
    totals = db.execute(
        "select sum(num_admissions), sum(icu_stay_count), round(sum(total_icu_days), 6),"
        " count(distinct subject_id) from segmentation.patient_features"
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
        "select f.subject_id, count(c.subject_id) as n from segmentation.patient_features f"
        " left join segmentation.patient_clusters c using (subject_id) group by f.subject_id having n <> 1"
    ).fetchall()
    assert per_patient == []
    assert scalar(db, "select count(distinct cluster_id) from segmentation.patient_clusters") == 4
    assert scalar(db, "select min(cluster_id) from segmentation.patient_clusters") == 0
    assert scalar(db, "select sum(num_patients) from marts.segments") == 100
    assert scalar(db, "select sum(share_of_registry) from marts.segments") == pytest.approx(1.0)


def test_days_since_last_admission_is_within_each_patient_timeline(db: duckdb.DuckDBPyConnection) -> None:
    low, high = db.execute(
        "select min(days_since_last_admission), max(days_since_last_admission) from "
        "segmentation.patient_features"
    ).fetchone()
    # Within a patient's own timeline the gap is at most the span of the release (2008-2019).
    assert 0 <= low <= high <= 12 * 366


NEW_FEATURES = [
    "charlson_comorbidity_index",
    "charlson_condition_score",
    "num_charlson_conditions",
    "num_chronic_conditions",
    "has_chronic_condition",
    "chronic_determination_coverage",
    "early_readmissions",
    "readmission_index_stays",
    "emergency_admission_share",
    "num_ed_visits",
    "in_hospital_death",
    "died_within_1y_of_last_discharge",
]


def test_all_100_patients_carry_the_clinical_features(db: duckdb.DuckDBPyConnection) -> None:
    # Every demo patient has an admission and a coded diagnosis, so none of these is NULL.
    not_null = ", ".join(f"count({c})" for c in NEW_FEATURES)
    assert db.execute(f"select {not_null} from segmentation.patient_features").fetchone() == (100,) * len(
        NEW_FEATURES
    )
    # The rate is undefined for the 5 patients whose only stay ended in death; the median gap
    # for the 55 patients with fewer than two inpatient hospital episodes.
    assert scalar(db, "select count(readmission_rate) from segmentation.patient_features") == 95
    assert scalar(db, "select count(median_days_between_admissions) from segmentation.patient_features") == 45


def test_retention_reconciles_with_the_admissions(db: duckdb.DuckDBPyConnection) -> None:
    features = db.execute(
        "select sum(early_readmissions), sum(readmission_index_stays), sum(num_ed_visits),"
        " round(sum(emergency_admission_share * num_admissions), 6),"
        " count(*) filter (where in_hospital_death),"
        " count(*) filter (where died_within_1y_of_last_discharge) from segmentation.patient_features"
    ).fetchone()
    admissions = db.execute(
        "select count(*) filter (where is_early_readmission),"
        " count(*) filter (where is_followed_by_early_readmission),"
        " count(*) filter (where is_readmission_index_stay), count(*) filter (where continues_previous_stay)"
        " from intermediate.int_admissions_sequenced"
    ).fetchone()
    raw = db.execute(
        "select count(*) filter (where eventtype = 'ED'),"
        " (select count(*) from raw.admissions"
        "  where admission_type in ('EW EMER.', 'DIRECT EMER.', 'OBSERVATION ADMIT')),"
        " (select sum(hospital_expire_flag) from raw.admissions) from raw.transfers"
    ).fetchone()
    # Inpatient mode (var readmission_definition): 44 readmissions, each following one of the
    # 217 index stays (272 episodes - 40 of observation stays only - 15 ended in death); 3 stays
    # continue the episode before them. 235 ED visits from 236 ED rows; 164 emergency stays.
    assert admissions == (44, 44, 217, 3)
    assert raw == (236, 104 + 15 + 45, 15)
    assert features == (44, 217, 235, 164, 15, 31)
    # MIMIC records deaths up to a year after the last discharge: all 31 are within the year.
    assert scalar(db, "select count(dod) from raw.patients") == 31


def test_readmission_window_on_the_real_demo(db: duckdb.DuckDBPyConnection) -> None:
    by_gap = dict(
        db.execute(
            "select days_since_previous_discharge <= 30, count(*) filter (where is_early_readmission)"
            " from intermediate.int_admissions_sequenced where days_since_previous_discharge is not null"
            " group by 1"
        ).fetchall()
    )
    # two counted episodes within 30 days are planned readmissions (principal diagnosis in CCS 45)
    assert by_gap == {True: 44, False: 0}
    assert (
        scalar(
            db,
            "select count(*) from intermediate.int_episodes_flagged_for_readmission"
            " where is_planned_episode and days_since_previous_discharge <= 30",
        )
        == 2
    )
    # one demo admission comes back exactly on day 31: not a readmission
    assert db.execute(
        "select is_early_readmission from intermediate.int_admissions_sequenced"
        " where days_since_previous_discharge = 31"
    ).fetchall() == [(False,)]


def test_a_seven_day_window_counts_seven_day_readmissions(
    built: dict[str, str], db: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    """Built with var readmission_window_days: 7, the same columns hold 7-day counts: exactly
    the default build's readmissions that came back within 7 days (episodes do not depend on
    the window), and the features and rates follow."""
    env, _ = rebuilt_on_a_copy(
        built,
        tmp_path,
        "--select",
        "int_episodes_flagged_for_readmission+",
        "--exclude",
        "resource_type:unit_test",
        "--vars",
        "{readmission_window_days: 7}",
    )
    within_7 = db.execute(
        "select hadm_id from intermediate.int_admissions_sequenced"
        " where is_early_readmission and days_since_previous_discharge <= 7 order by 1"
    ).fetchall()
    with duckdb.connect(env["MIMIC_SEGMENTS_DEV_DB"], read_only=True) as seven:
        flagged = seven.execute(
            "select hadm_id from intermediate.int_admissions_sequenced where is_early_readmission order by 1"
        ).fetchall()
        total = seven.execute("select sum(early_readmissions) from segmentation.patient_features").fetchone()[
            0
        ]
    assert flagged == within_7 and 0 < len(flagged) < 44
    assert total == len(flagged)


def test_charlson_per_admission_and_per_patient(db: duckdb.DuckDBPyConnection) -> None:
    assert scalar(db, "select count(distinct hadm_id) from segmentation.admission_comorbidities") == 275
    assert (
        scalar(db, "select sum(charlson_comorbidity_index) from segmentation.admission_comorbidities") == 1282
    )
    # ICD-10 E1010 (type 1 diabetes with ketoacidosis) is diabetes without chronic complication
    assert db.execute(
        "select distinct c.has_diabetes_without_chronic_complication from "
        "segmentation.admission_comorbidities c"
        " join staging.stg_mimic__diagnoses_icd d using (hadm_id) where d.icd_code = 'E1010'"
    ).fetchall() == [(True,)]
    # per patient: conditions pooled, so never below any of the patient's admissions
    assert (
        scalar(
            db,
            "select count(*) from segmentation.admission_comorbidities a join segmentation.patient_features p"
            " using (subject_id) where a.charlson_condition_score > p.charlson_condition_score",
        )
        == 0
    )
    assert db.execute(
        "select sum(charlson_condition_score), sum(charlson_comorbidity_index) from "
        "segmentation.patient_features"
    ).fetchone() == (321, 514)


def test_chronic_condition_coverage_per_icd_version(db: duckdb.DuckDBPyConnection) -> None:
    # one row per patient and code, each standing for num_diagnosis_rows billed rows
    rows = "num_diagnosis_rows"
    assert scalar(db, f"select sum({rows}) from intermediate.int_diagnoses_classified_chronic") == 4506
    coverage = db.execute(
        f"select icd_version, sum({rows}), sum({rows}) filter (where chronic_status = 'chronic'),"
        f" coalesce(sum({rows}) filter (where chronic_status = 'no_determination'), 0),"
        f" coalesce(sum({rows}) filter (where chronic_status = 'not_in_reference'), 0),"
        f" round(sum({rows}) filter (where has_chronic_determination) / sum({rows}), 3)"
        " from intermediate.int_diagnoses_classified_chronic group by 1 order by 1"
    ).fetchall()
    # the numbers documented in the chronic_determination_coverage docs block
    assert coverage == [(9, 2193, 1075, 0, 100, 0.954), (10, 2313, 1139, 504, 0, 0.782)]
    # the ICD-9 rows HCUP does not list are all E codes (external causes)
    assert (
        scalar(
            db,
            "select count(*) from intermediate.int_diagnoses_classified_chronic"
            " where chronic_status = 'not_in_reference' and icd_code not like 'E%'",
        )
        == 0
    )
    # leading zeros survive the reference join: 0389 is classified
    assert db.execute(
        "select distinct chronic_status from intermediate.int_diagnoses_classified_chronic"
        " where icd_version = 9 and icd_code = '0389'"
    ).fetchall() == [("not_chronic",)]


def test_clusters_use_the_configured_features_and_profiles_the_outcomes(
    db: duckdb.DuckDBPyConnection,
) -> None:
    columns = {row[0] for row in db.execute("describe segmentation.patient_clusters").fetchall()}
    for feature in [
        "charlson_condition_score",
        "num_chronic_conditions",
        "early_readmissions",
        "emergency_admission_share",
    ]:
        assert f"scaled_{feature}" in columns
    assert "scaled_in_hospital_death" not in columns and "scaled_charlson_comorbidity_index" not in columns
    pooled = db.execute(
        "select sum(early_readmission_rate * (select sum(readmission_index_stays) from "
        "segmentation.patient_features f"
        " join marts.patient_segments c using (subject_id) where c.segment_key = s.segment_key))"
        " from marts.segments s"
    ).fetchone()
    assert pooled == (pytest.approx(44.0),)


def _table_fingerprint(db_path: str, relation: str) -> list[tuple[object, ...]]:
    with duckdb.connect(db_path, read_only=True) as connection:
        return connection.execute(f"select * from {relation} order by all").fetchall()


# the marts whose values are the project's results (the digest's list)
RERUN_MODELS = list(marts_digest.TABLES)


def test_rerun_gives_identical_tables(built: dict[str, str], dbt: Callable[..., object]) -> None:
    with duckdb.connect(built["MIMIC_SEGMENTS_DEV_DB"], read_only=True) as connection:
        relations = [f"{marts_digest.mart_schema(connection, model)}.{model}" for model in RERUN_MODELS]
    before = {r: _table_fingerprint(built["MIMIC_SEGMENTS_DEV_DB"], r) for r in relations}
    dbt("run", "--select", *RERUN_MODELS)
    after = {r: _table_fingerprint(built["MIMIC_SEGMENTS_DEV_DB"], r) for r in relations}
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
        if node["resource_type"] == "test":
            continue  # its table in schema audit holds the test's failing rows (store_failures)
        if not node["description"].strip():
            missing.append(unique_id)
        documented = {name.lower(): col for name, col in node["columns"].items()}
        for column in entry["columns"]:
            if not documented.get(column.lower(), {}).get("description", "").strip():
                missing.append(f"{unique_id}.{column}")
    # Columns generated from the feature catalogue have no YAML (described by the macro
    # generated_columns(), written as comments): the clustering inputs, the scaled inputs of
    # patient_clusters, and segment_profiles_wide's <statistic>_<feature> columns beside the
    # columns of `segments`, which are described there.
    clustered = features.clustered(features.load_catalogue())
    segments = {c.lower() for c in manifest["nodes"]["model.mimic_segments.segments"]["columns"]}
    with duckdb.connect(built["MIMIC_SEGMENTS_DEV_DB"], read_only=True) as db:
        cells = {
            f"{s}_{f}"
            for s, f in db.execute(
                "select distinct statistic, feature_name from marts.segment_profiles"
            ).fetchall()
        }
    generated_by_model = {
        "model.mimic_segments.segment_profiles_wide": segments | cells,
        "model.mimic_segments.patient_clusters": {f"scaled_{f}" for f in clustered},
        "model.mimic_segments.int_patients_prepared_for_segmentation": set(clustered),
    }
    generated = [
        m
        for m in missing
        if m.rsplit(".", 1)[0] in generated_by_model
        and m.rsplit(".", 1)[1].lower() in generated_by_model[m.rsplit(".", 1)[0]]
    ]
    wide = "model.mimic_segments.segment_profiles_wide"
    assert len([m for m in generated if m.startswith(wide)]) == len(catalog["nodes"][wide]["columns"]) - 1
    assert [m for m in missing if m not in generated] == []
    undocumented_macros = [
        name
        for name, macro in manifest["macros"].items()
        if macro["package_name"] == "mimic_segments" and not macro["description"].strip()
    ]
    assert undocumented_macros == []
