"""Tests for scripts/check_charlson_parity.py on a hand-built database.

The MIT-LCP reference SQL is not part of the repository, so these tests use a small
reference-shaped query written here: they check the mechanical adaptation (DDL, BigQuery
names, comments) and that the comparison finds every kind of disagreement.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import duckdb
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "check_charlson_parity", REPO_ROOT / "scripts" / "check_charlson_parity.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


parity = _load_script()

# A reference-shaped query: MI from ICD-9 410 or ICD-10 I21, every other flag 0, age points
# from mimiciv_derived.age. BigQuery-style names and a comment holding a semicolon.
OTHER_FLAGS = [
    c for c in parity.COLUMN_MAP if c not in ("myocardial_infarct", "age_score", "charlson_comorbidity_index")
]
REFERENCE_SQL = f"""
-- reference-shaped query; Charlson (1987) -- the semicolon must not split it
WITH com AS (
    SELECT ad.hadm_id,
        MAX(CASE WHEN (d.icd_version = 9 AND SUBSTR(d.icd_code, 1, 3) = '410')
                   OR (d.icd_version = 10 AND SUBSTR(d.icd_code, 1, 3) = 'I21') THEN 1 ELSE 0 END)
            AS myocardial_infarct
    FROM `physionet-data.mimiciv_hosp.admissions` ad
    LEFT JOIN `physionet-data.mimiciv_hosp.diagnoses_icd` d ON ad.hadm_id = d.hadm_id
    GROUP BY ad.hadm_id
), ag AS (
    SELECT hadm_id, CASE WHEN age < 50 THEN 0 WHEN age < 60 THEN 1 WHEN age < 70 THEN 2
        WHEN age < 80 THEN 3 ELSE 4 END AS age_score
    FROM `physionet-data.mimiciv_derived.age`
)
SELECT ad.subject_id, ad.hadm_id, ag.age_score, com.myocardial_infarct,
    {", ".join(f"0 AS {c}" for c in OTHER_FLAGS)},
    ag.age_score + com.myocardial_infarct AS charlson_comorbidity_index
FROM `physionet-data.mimiciv_hosp.admissions` ad
LEFT JOIN com ON ad.hadm_id = com.hadm_id
LEFT JOIN ag ON com.hadm_id = ag.hadm_id
;
"""


def build_project_db(path: Path, mart_rows: list[tuple[int, int, bool, int, int]]) -> None:
    """Raw demo-like tables (3 admissions) and a mart with rows (subject, hadm, MI, age pts, index)."""
    with duckdb.connect(str(path)) as con:
        con.execute("create schema raw; create schema segmentation")
        con.execute(
            "create table raw.patients as select * from (values (1, 49, 2150), (2, 79, 2160))"
            " t(subject_id, anchor_age, anchor_year)"
        )
        con.execute(
            "create table raw.admissions as"
            " select subject_id, hadm_id, cast(admittime as timestamp) as admittime from (values"
            " (1, 10, '2150-05-01 10:00'), (1, 11, '2151-02-01 08:00'), (2, 20, '2161-07-01 00:00'))"
            " t(subject_id, hadm_id, admittime)"
        )
        con.execute(
            "create table raw.diagnoses_icd as select * from (values (10, '4101', 9), (20, 'I214', 10),"
            " (20, '410', 10)) t(hadm_id, icd_code, icd_version)"
        )
        other = ", ".join(f"false as {parity.COLUMN_MAP[c]}" for c in OTHER_FLAGS)
        values = ", ".join(f"({s}, {h}, {str(mi).lower()}, {a}, {i})" for s, h, mi, a, i in mart_rows)
        con.execute(
            "create table segmentation.admission_comorbidities as select subject_id, hadm_id,"
            f" has_myocardial_infarction, {other}, charlson_age_points, charlson_comorbidity_index"
            f" from (values {values}) t(subject_id, hadm_id, has_myocardial_infarction,"
            " charlson_age_points, charlson_comorbidity_index)"
        )


# What the reference computes on the raw tables above: ages 49, 50 and 80.
AGREEING_ROWS = [(1, 10, True, 0, 1), (1, 11, False, 1, 1), (2, 20, True, 4, 5)]


def test_adaptation_strips_ddl_comments_and_bigquery_names() -> None:
    duckdb_style = (
        "-- generated\n"
        "DROP TABLE IF EXISTS mimiciv_derived.charlson; CREATE TABLE mimiciv_derived.charlson AS\n"
        "SELECT 1 AS x FROM mimiciv_hosp.admissions"
    )
    assert parity.adapt_reference_sql(duckdb_style) == "SELECT 1 AS x FROM mimiciv_hosp.admissions"
    adapted = parity.adapt_reference_sql(REFERENCE_SQL)
    assert "`" not in adapted and "physionet-data" not in adapted
    assert "mimiciv_hosp.diagnoses_icd" in adapted and "mimiciv_derived.age" in adapted
    assert not adapted.endswith(";")


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("SELECT 1; SELECT 2", "more than one statement"),
        ("DELETE FROM x", "no SELECT"),
        ("SELECT * FROM `other-project.x`", "backticked"),
    ],
)
def test_adaptation_rejects_what_it_cannot_run(sql: str, message: str) -> None:
    with pytest.raises(parity.ParityInputError, match=message):
        parity.adapt_reference_sql(sql)


def test_agreeing_mart_passes(tmp_path: Path) -> None:
    db = tmp_path / "project.duckdb"
    build_project_db(db, AGREEING_ROWS)
    report = parity.compare(parity.connect(db), parity.adapt_reference_sql(REFERENCE_SQL))
    assert (report.reference_rows, report.project_rows, report.compared) == (3, 3, 3)
    assert set(report.mismatches.values()) == {0}
    assert report.passed


def test_every_kind_of_disagreement_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "project.duckdb"
    rows = [
        (1, 10, False, 0, 0),  # flag and index wrong
        (1, 11, False, 2, 2),  # age points and index wrong (age 50 is 1 point)
        (3, 30, False, 0, 0),  # an admission the reference does not have (and 20 is missing)
    ]
    build_project_db(db, rows)
    report = parity.compare(parity.connect(db), parity.adapt_reference_sql(REFERENCE_SQL))
    assert report.compared == 2
    assert (report.only_in_reference, report.only_in_project) == (1, 1)
    assert report.mismatches["myocardial_infarct"] == 1
    assert report.mismatches["age_score"] == 1
    assert report.mismatches["charlson_comorbidity_index"] == 2
    assert report.admissions_with_mismatch == 2
    assert not report.passed

    reference = tmp_path / "charlson.sql"
    reference.write_text(REFERENCE_SQL)
    assert parity.main([str(reference), "--db", str(db)]) == 1
    out = capsys.readouterr().out
    assert "hadm_id 10: reference/project myocardial_infarct=1/0, charlson_comorbidity_index=1/0" in out
    assert out.rstrip().endswith("FAIL")


def test_main_passes_and_reports_input_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "project.duckdb"
    build_project_db(db, AGREEING_ROWS)
    reference = tmp_path / "charlson.sql"
    reference.write_text(REFERENCE_SQL)
    assert parity.main([str(reference), "--db", str(db)]) == 0
    assert "PASS: 3/3 admissions agree" in capsys.readouterr().out

    assert parity.main([str(tmp_path / "missing.sql"), "--db", str(db)]) == 2
    assert parity.main([str(reference), "--db", str(tmp_path / "missing.duckdb")]) == 2
    assert "project database not found" in capsys.readouterr().err
