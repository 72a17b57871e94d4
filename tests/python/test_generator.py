"""Tests for the MIMIC-shaped generator (mimic_segments.synthetic.generator) and its fitted parameters."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from pathlib import Path

import duckdb
import pytest

from mimic_segments.sources import release_parquet
from mimic_segments.synthetic import fit, generator
from mimic_segments.synthetic.generator import GeneratorError, generate_release

REPO_ROOT = Path(__file__).resolve().parents[2]
DEMO_DIR = Path(os.environ.get("MIMIC_DEMO_DIR") or REPO_ROOT.parent / "shared" / "mimic-iv-demo" / "2.2")


def _digest(directory: Path) -> dict[str, str]:
    return {
        str(path.relative_to(directory)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(directory.rglob("*.csv.gz"))
    }


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("generated") / "release"
    generate_release(out, 3_000, seed=7, release="3.1", chunk_patients=1_000)
    return out


@pytest.fixture(scope="module")
def db(release: Path) -> duckdb.DuckDBPyConnection:
    """The generated files loaded with the column types the dbt source declares."""
    con = duckdb.connect()
    for table in release_parquet.source_tables():
        columns = "{" + ", ".join(f"'{c}': '{t}'" for c, t in table.columns.items()) + "}"
        con.execute(
            f"create table {table.name} as select * from read_csv('{table.csv_path(release)}', "
            f"header = true, auto_detect = false, columns = {columns})"
        )
    return con


def scalar(con: duckdb.DuckDBPyConnection, sql: str) -> object:
    row = con.execute(sql).fetchone()
    assert row is not None
    return row[0]


def test_writes_the_official_layout_and_header_of_every_table(release: Path) -> None:
    for table in release_parquet.source_tables():
        path = table.csv_path(release)
        with gzip.open(path, "rt") as handle:
            header = handle.readline().strip().split(",")
        assert header == list(table.columns), path
    assert not list(release.rglob("*.part"))


def test_same_seed_same_bytes_other_seed_other_bytes(release: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    generate_release(again, 3_000, seed=7, release="3.1", chunk_patients=1_000)
    assert _digest(again) == _digest(release)
    other = tmp_path / "other"
    generate_release(other, 3_000, seed=8, release="3.1", chunk_patients=1_000)
    assert _digest(other)["hosp/admissions.csv.gz"] != _digest(release)["hosp/admissions.csv.gz"]


def test_keys_and_references_hold(db: duckdb.DuckDBPyConnection) -> None:
    assert scalar(db, "select count(*) from patients") == 3_000
    assert scalar(db, "select count(*) - count(distinct subject_id) from patients") == 0
    assert scalar(db, "select count(*) - count(distinct hadm_id) from admissions") == 0
    assert scalar(db, "select count(*) - count(distinct stay_id) from icustays") == 0
    orphans = """
        select
            (select count(*) from admissions where subject_id not in (select subject_id from patients)),
            (select count(*) from diagnoses_icd d left join admissions a using (hadm_id)
                where a.hadm_id is null or a.subject_id <> d.subject_id),
            (select count(*) from icustays i left join admissions a using (hadm_id)
                where a.hadm_id is null or a.subject_id <> i.subject_id),
            (select count(*) from diagnoses_icd d left join d_icd_diagnoses t using (icd_version, icd_code)
                where t.icd_code is null),
            (select count(*) from d_icd_diagnoses t
                where not exists (select 1 from diagnoses_icd d
                                  where d.icd_version = t.icd_version and d.icd_code = t.icd_code))
    """
    assert db.execute(orphans).fetchone() == (0, 0, 0, 0, 0)
    # MIMIC-IV's id ranges
    assert db.execute(
        "select (select min(subject_id) from patients), (select max(subject_id) < 20000000 from patients),"
        " (select min(hadm_id) >= 20000000 and max(hadm_id) < 30000000 from admissions),"
        " (select min(stay_id) >= 30000000 from icustays)"
    ).fetchone() == (10_000_000, True, True, True)


def test_diagnoses_are_numbered_and_unique_per_admission(db: duckdb.DuckDBPyConnection) -> None:
    per_admission = db.execute(
        "select count(*) filter"
        " (where n <> max_seq or min_seq <> 1 or n <> distinct_seq or n <> distinct_code)"
        " from (select hadm_id, count(*) n, max(seq_num) max_seq, min(seq_num) min_seq,"
        " count(distinct seq_num) distinct_seq, count(distinct (icd_version, icd_code)) distinct_code"
        " from diagnoses_icd group by hadm_id)"
    ).fetchone()
    assert per_admission == (0,)
    # ICD codes are strings: ICD-9 codes with a leading zero survive as written
    assert scalar(db, "select count(*) from diagnoses_icd where icd_version = 9 and icd_code like '0%'") > 0
    assert scalar(db, "select count(*) from diagnoses_icd where icd_version = 10 and icd_code ~ '^[A-Z]'") > 0


def test_dates_are_consistent_within_each_patient(db: duckdb.DuckDBPyConnection) -> None:
    problems = db.execute(
        """
        select
            (select count(*) from admissions where dischtime < admittime),
            (select count(*) from admissions where (deathtime is not null) <> (hospital_expire_flag = 1)),
            (select count(*) from admissions where edregtime is not null and edregtime > admittime),
            (select count(*) from icustays where outtime <= intime
                or abs(los - epoch(outtime - intime) / 86400.0) > 1e-9),
            (select count(*) from icustays i join admissions a using (hadm_id) where i.intime < a.admittime),
            -- a patient who died in hospital has a date of death on that admission's discharge day
            (select count(*) from admissions a join patients p using (subject_id)
                where a.hospital_expire_flag = 1 and p.dod is distinct from cast(a.dischtime as date)),
            -- nobody is admitted after their recorded death
            (select count(*) from admissions a join patients p using (subject_id)
                where p.dod is not null and cast(a.admittime as date) > p.dod)
        """
    ).fetchone()
    assert problems == (0, 0, 0, 0, 0, 0, 0)


def test_anchor_fields_follow_mimic_rules(db: duckdb.DuckDBPyConnection) -> None:
    groups = {row[0] for row in db.execute("select distinct anchor_year_group from patients").fetchall()}
    assert groups == {"2008 - 2010", "2011 - 2013", "2014 - 2016", "2017 - 2019", "2020 - 2022"}
    assert db.execute("select min(anchor_age) >= 18, max(anchor_age) from patients").fetchone() == (True, 91)
    # Mapped back through the anchor group, every stay falls in the release's real years 2008-2022:
    # year(admittime) - anchor_year + group start lies within [real year - 2, real year] (the real
    # anchor year is somewhere in its 3-year group), and a 31 December can move by a leap day.
    outside = scalar(
        db,
        "select count(*) from admissions a join patients p using (subject_id) where"
        " year(a.admittime) - p.anchor_year + cast(left(p.anchor_year_group, 4) as int)"
        " not between 2006 and 2023",
    )
    assert outside == 0


def test_release_volumes_follow_the_published_totals(tmp_path: Path) -> None:
    out = tmp_path / "volumes"
    summary = generate_release(out, 20_000, seed=3, release="3.1")
    shape = generator.RELEASES["3.1"]
    rows = summary.rows
    assert rows["hosp/admissions"] / 20_000 == pytest.approx(shape.admissions / shape.patients, rel=0.06)
    # MIMIC-IV 3.1: 223,452 of 364,627 patients have an admission (38.7 % never admitted)
    with gzip.open(out / "hosp" / "admissions.csv.gz", "rt") as handle:
        admitted = {line.split(",", 1)[0] for line in list(handle)[1:]}
    assert len(admitted) / 20_000 == pytest.approx(223_452 / 364_627, abs=0.01)
    assert rows["hosp/admissions"] / len(admitted) == pytest.approx(546_028 / 223_452, rel=0.05)
    assert rows["hosp/diagnoses_icd"] / rows["hosp/admissions"] == pytest.approx(
        shape.diagnoses / shape.admissions, rel=0.05
    )
    assert rows["icu/icustays"] / rows["hosp/admissions"] == pytest.approx(
        shape.icustays / shape.admissions, rel=0.1
    )


def test_demo_volumes_follow_the_demo(tmp_path: Path) -> None:
    params = generator.load_params()
    summary = generate_release(tmp_path / "demo", 5_000, seed=3, release="2.2", volumes="demo")
    admissions_per_patient = params["admissions"]["n"] / params["patients"]["n"]  # 2.75 in the demo
    assert summary.rows["hosp/admissions"] / 5_000 == pytest.approx(admissions_per_patient, rel=0.1)
    with gzip.open(tmp_path / "demo" / "hosp" / "patients.csv.gz", "rt") as handle:
        groups = {line.rstrip("\n").split(",")[4] for line in list(handle)[1:]}
    assert max(groups) == "2017 - 2019"  # release 2.2 ends in 2019


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"patients": 0}, "positive integer"),
        ({"patients": 10_000_000}, "subject_id range"),
        ({"patients": 10, "release": "1.0"}, "unknown release"),
        ({"patients": 10, "volumes": "huge"}, "volumes"),
    ],
)
def test_rejects_bad_arguments(tmp_path: Path, kwargs: dict[str, object], message: str) -> None:
    arguments = {"seed": 1, **kwargs}
    with pytest.raises(GeneratorError, match=message):
        generate_release(tmp_path / "bad", **arguments)  # type: ignore[arg-type]


def test_cli_writes_a_release(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert generator.main(["--patients", "200", "--seed", "5", "--out", str(tmp_path / "cli")]) == 0
    assert "hosp/patients 200" in capsys.readouterr().out
    assert generator.main(["--patients", "0", "--out", str(tmp_path / "none")]) == 2


def test_committed_parameters_are_the_fit_of_the_demo() -> None:
    """generator_params.json (and docs/generator.md, which tabulates it) match a fresh fit."""
    if not (DEMO_DIR / "hosp" / "patients.csv.gz").is_file():
        pytest.skip(f"MIMIC-IV demo not found at {DEMO_DIR}")
    committed = json.loads(generator.PARAMS_PATH.read_text())
    assert fit.fit(DEMO_DIR) == committed


def test_parameters_hold_aggregates_only() -> None:
    """No row-level demo data: every leaf is a number or a short label, every count table sums up."""
    params = generator.load_params()
    patients, admissions = params["patients"], params["admissions"]
    assert sum(patients["gender_counts"].values()) == patients["n"]
    assert sum(patients["anchor_age_bin_counts"].values()) == patients["n"]
    assert sum(admissions["admission_type_counts"].values()) == admissions["n"]
    assert (
        sum(sum(codes.values()) for codes in params["diagnoses"]["code_counts"].values())
        == params["diagnoses"]["n"]
    )
    text = generator.PARAMS_PATH.read_text()
    assert "subject_id" not in text and "hadm_id" not in text and "stay_id" not in text


def test_fit_reports_a_missing_demo(tmp_path: Path) -> None:
    with pytest.raises(fit.FitError, match=r"patients\.csv\.gz"):
        fit.fit(tmp_path)


def test_documented_table_is_rendered_from_the_committed_parameters() -> None:
    doc = REPO_ROOT / "docs" / "generator.md"
    assert doc.read_text() == fit.render_markdown(generator.load_params())
    # dbt parses docs/ for docs blocks: the page must hold no Jinja
    assert "{{" not in doc.read_text() and "{%" not in doc.read_text()
