"""Tests for the MIMIC-shaped generator (mimic_segments.synthetic.generator) and its fitted parameters."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from pathlib import Path

import duckdb
import numpy as np
import pytest

from mimic_segments.sources import release_parquet
from mimic_segments.synthetic import arrays, correlations, document, fit, generator, model
from mimic_segments.synthetic.arrays import cap_to_room
from mimic_segments.synthetic.generator import GeneratorError, generate_release

REPO_ROOT = Path(__file__).resolve().parents[2]
DEMO_DIR = Path(os.environ.get("MIMIC_DEMO_DIR") or REPO_ROOT.parent / "shared" / "mimic-iv-demo" / "2.2")
# hosp/transfers as MIMIC-IV documents it (the dbt source does not declare it yet)
TRANSFERS_COLUMNS = {
    "subject_id": "BIGINT",
    "hadm_id": "BIGINT",
    "transfer_id": "BIGINT",
    "eventtype": "VARCHAR",
    "careunit": "VARCHAR",
    "intime": "TIMESTAMP",
    "outtime": "TIMESTAMP",
}
OBSERVATION_TYPES = ("EU OBSERVATION", "DIRECT OBSERVATION", "AMBULATORY OBSERVATION")


def load_release(release: Path) -> duckdb.DuckDBPyConnection:
    """The generated files loaded with the column types the dbt source declares (and MIMIC-IV's
    for transfers)."""
    con = duckdb.connect()
    tables = {t.name: (t.csv_path(release), t.columns) for t in release_parquet.source_tables()}
    tables["transfers"] = (release / "hosp" / "transfers.csv.gz", TRANSFERS_COLUMNS)
    for name, (path, types) in tables.items():
        columns = "{" + ", ".join(f"'{c}': '{t}'" for c, t in types.items()) + "}"
        con.execute(
            f"create table {name} as select * from read_csv('{path}', header = true, "
            f"auto_detect = false, columns = {columns})"
        )
    return con


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
    return load_release(release)


@pytest.fixture(scope="module")
def large_release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20,000 patients: enough pairs of stays (about 17,000) to measure rates of a few per cent."""
    out = tmp_path_factory.mktemp("generated") / "large"
    generate_release(out, 20_000, seed=3, release="3.1")
    return out


@pytest.fixture(scope="module")
def large_db(large_release: Path) -> duckdb.DuckDBPyConnection:
    return load_release(large_release)


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


def test_release_volumes_follow_the_published_totals(large_db: duckdb.DuckDBPyConnection) -> None:
    shape = generator.RELEASES["3.1"]
    rows = {
        name: scalar(large_db, f"select count(*) from {name}")
        for name in ("patients", "admissions", "diagnoses_icd", "icustays")
    }
    assert rows["patients"] == 20_000
    assert rows["admissions"] / 20_000 == pytest.approx(shape.admissions / shape.patients, rel=0.06)
    # MIMIC-IV 3.1: 223,452 of 364,627 patients have an admission (38.7 % never admitted)
    admitted = scalar(large_db, "select count(distinct subject_id) from admissions")
    assert admitted / 20_000 == pytest.approx(223_452 / 364_627, abs=0.01)
    assert rows["admissions"] / admitted == pytest.approx(546_028 / 223_452, rel=0.05)
    assert rows["diagnoses_icd"] / rows["admissions"] == pytest.approx(
        shape.diagnoses / shape.admissions, rel=0.05
    )
    assert rows["icustays"] / rows["admissions"] == pytest.approx(shape.icustays / shape.admissions, rel=0.1)


def test_admission_types_follow_the_release_mix(large_db: duckdb.DuckDBPyConnection) -> None:
    total = sum(model.RELEASE_ADMISSION_TYPE_COUNTS.values())  # 546,028: MIMIC-IV 3.x admissions
    shares = dict(
        large_db.execute(
            "select admission_type, count(*) / sum(count(*)) over () from admissions group by 1"
        ).fetchall()
    )
    assert set(shares) == set(model.RELEASE_ADMISSION_TYPE_COUNTS)
    for admission_type, count in model.RELEASE_ADMISSION_TYPE_COUNTS.items():
        assert shares[admission_type] == pytest.approx(count / total, abs=0.01), admission_type
    # observation stays are short (demo medians 0.65-1.0 days), inpatient stays days long; and,
    # as in the demo, no observation stay has an ICU stay
    median_days = dict(
        large_db.execute(
            "select admission_type, median(epoch(dischtime - admittime) / 86400) from admissions group by 1"
        ).fetchall()
    )
    assert max(median_days[t] for t in OBSERVATION_TYPES) < 1.5
    assert min(median_days[t] for t in ("EW EMER.", "URGENT", "ELECTIVE", "OBSERVATION ADMIT")) > 3.0
    observation_icu = scalar(
        large_db,
        "select count(*) from icustays join admissions using (hadm_id) "
        f"where admission_type in {OBSERVATION_TYPES}",
    )
    assert observation_icu == 0


def test_back_to_back_stays_at_the_demo_rate(large_db: duckdb.DuckDBPyConnection) -> None:
    """Demo: of 175 consecutive pairs of a patient's stays, 3 start within 15 minutes of the
    previous discharge (one in the same minute) and 4 within 24 hours."""
    pairs, within_15_minutes, same_minute, within_24_hours = large_db.execute(
        "select count(*), count(*) filter (where gap <= 15), count(*) filter (where gap = 0),"
        " count(*) filter (where gap <= 1440)"
        " from (select epoch(admittime - lag(dischtime) over (partition by subject_id order by admittime))"
        " / 60 as gap from admissions) where gap is not null"
    ).fetchone()
    assert pairs > 15_000
    assert within_15_minutes / pairs == pytest.approx(3 / 175, rel=0.25)
    assert same_minute > 0
    assert within_24_hours / pairs == pytest.approx(4 / 175, abs=0.01)
    # no stay overlaps the patient's previous one
    assert (
        scalar(
            large_db,
            "select count(*) from (select admittime, lag(dischtime) over"
            " (partition by subject_id order by admittime) prev from admissions) where admittime < prev",
        )
        == 0
    )


def test_ed_visits_without_admission_follow_mimic_iv_ed(large_db: duckdb.DuckDBPyConnection) -> None:
    """MIMIC-IV-ED: 267,077 ED stays without disposition ADMITTED for the release's 364,627
    patients; every never-admitted patient came through the ED; some are frequent ED users
    (four or more visits within a year)."""
    per_patient = scalar(large_db, "select count(*) / 20000 from transfers where hadm_id is null")
    module = model.ED_MODULE
    assert per_patient == pytest.approx(module.stays_without_admission / 364_627, rel=0.1)
    never_admitted, with_ed_visit, frequent = large_db.execute(
        """
        with never as (
            select subject_id from patients where subject_id not in (select subject_id from admissions)
        ),
        visits as (
            select subject_id, count(*) over (partition by subject_id order by intime
                   range between interval 365 days preceding and current row) as in_a_year
            from transfers where hadm_id is null and subject_id in (select subject_id from never)
        )
        select (select count(*) from never),
               (select count(distinct subject_id) from visits),
               (select count(distinct subject_id) from visits where in_a_year >= 4)
        """
    ).fetchone()
    assert never_admitted / 20_000 == pytest.approx(1 - 223_452 / 364_627, abs=0.01)
    assert with_ed_visit == never_admitted
    assert frequent > 0


def test_cap_to_room_shortens_the_longest_gaps_first() -> None:
    group = np.array([0, 0, 0, 1, 1, 2])
    gaps = np.array([10.0, 1.0, 5.0, 3.0, 4.0, 7.0])
    cap = cap_to_room(group, gaps, np.array([9.0, 100.0, 2.0]))
    # group 0: 1 + 4 + 4 = 9 (the 1 kept as drawn); group 1 fits; group 2: the one gap capped to 2
    assert cap.tolist() == [4.0, np.inf, 2.0]


def test_transfers_has_mimic_iv_columns_and_values(release: Path, db: duckdb.DuckDBPyConnection) -> None:
    with gzip.open(release / "hosp" / "transfers.csv.gz", "rt") as handle:
        assert handle.readline().strip().split(",") == list(TRANSFERS_COLUMNS)
    assert generator.COLUMNS["hosp/transfers"] == tuple(TRANSFERS_COLUMNS)
    assert scalar(db, "select count(*) - count(distinct transfer_id) from transfers") == 0
    assert scalar(db, "select min(transfer_id) from transfers") == 30_000_000
    events = dict(db.execute("select eventtype, count(*) from transfers group by 1").fetchall())
    assert set(events) == {"ED", "admit", "transfer", "discharge"}
    # one admit and one discharge row per admission; a discharge row has no careunit or outtime,
    # every other row has both; only ED rows lack an admission
    assert events["admit"] == events["discharge"] == scalar(db, "select count(*) from admissions")
    problems = db.execute(
        """
        select
            count(*) filter (where (eventtype = 'discharge') <> (careunit is null)),
            count(*) filter (where (eventtype = 'discharge') <> (outtime is null)),
            count(*) filter (where hadm_id is null and eventtype <> 'ED'),
            count(*) filter (where eventtype = 'ED' and careunit <> 'Emergency Department'),
            count(*) filter (where outtime <= intime)
        from transfers
        """
    ).fetchone()
    assert problems == (0, 0, 0, 0, 0)
    orphans = db.execute(
        "select count(*) from transfers t left join admissions a using (hadm_id)"
        " where t.hadm_id is not null and (a.hadm_id is null or a.subject_id <> t.subject_id)"
    ).fetchone()
    assert orphans == (0,)


def test_every_ed_row_with_an_admission_is_its_ed_registration(db: duckdb.DuckDBPyConnection) -> None:
    ed_rows, matching, with_edregtime = db.execute(
        """
        select count(*),
               count(*) filter (where t.subject_id = a.subject_id and t.intime = a.edregtime
                                and t.outtime = a.edouttime),
               (select count(*) from admissions where edregtime is not null)
        from transfers t join admissions a using (hadm_id) where t.eventtype = 'ED'
        """
    ).fetchone()
    assert ed_rows == matching == with_edregtime > 0


def test_each_admission_is_one_ordered_chain(db: duckdb.DuckDBPyConnection) -> None:
    """ED (if any), admit, transfers, discharge: each row starts where the previous one ends, the
    first ward row where the ED row ends, and the discharge row at or after dischtime."""
    problems = db.execute(
        """
        with chain as (
            select t.*, a.admittime, a.dischtime, a.edouttime,
                   row_number() over stay as position,
                   lag(t.outtime) over stay as previous_out,
                   lead(t.intime) over stay as next_in
            from transfers t join admissions a using (hadm_id)
            window stay as (partition by t.hadm_id order by t.intime, t.transfer_id)
        )
        select
            count(*) filter (where position > 1 and intime <> previous_out),
            count(*) filter (where eventtype = 'discharge' and (next_in is not null or intime < dischtime)),
            count(*) filter (where eventtype = 'ED' and position <> 1),
            count(*) filter (where eventtype = 'admit' and edouttime is not null and intime <> edouttime),
            count(*) filter (where eventtype = 'admit' and edouttime is null and intime < admittime),
            count(*) filter (where eventtype = 'transfer' and intime >= dischtime)
        from chain
        """
    ).fetchone()
    assert problems == (0, 0, 0, 0, 0, 0)
    # a patient's rows never overlap, across stays and ED visits either
    overlapping = scalar(
        db,
        "select count(*) from (select outtime, lead(intime) over (partition by subject_id order by intime,"
        " transfer_id) next_in from transfers) where next_in < outtime",
    )
    assert overlapping == 0


def test_icu_stays_are_rows_of_their_admission(db: duckdb.DuckDBPyConnection) -> None:
    """icustays is derived from transfers in MIMIC-IV: stay_id is the transfer_id of the stay's
    first row, and its times are those of transfer rows within the admission."""
    icu, opening_row, closing_row, outside = db.execute(
        """
        select count(*),
               count(*) filter (where exists (select 1 from transfers t where t.transfer_id = i.stay_id
                   and t.hadm_id = i.hadm_id and t.intime = i.intime and t.careunit = i.first_careunit)),
               count(*) filter (where exists (select 1 from transfers t where t.hadm_id = i.hadm_id
                   and t.outtime = i.outtime and t.careunit = i.last_careunit)),
               count(*) filter (where i.intime < a.admittime or i.outtime > a.dischtime)
        from icustays i join admissions a using (hadm_id)
        """
    ).fetchone()
    assert icu == opening_row == closing_row > 0
    assert outside == 0


def test_ed_visits_without_admission_fit_each_patient(db: duckdb.DuckDBPyConnection) -> None:
    """ED-only rows have no hadm_id, fall outside the patient's stays, within 365 days of an
    admitted patient's stays, before death, and never-admitted patients are anchored in the ED
    module's 2011-2019."""
    problems = db.execute(
        """
        with ed_only as (select * from transfers where hadm_id is null),
        span as (
            select subject_id, min(a.admittime) as first_in, max(t.intime) as last_out
            from admissions a join transfers t using (subject_id, hadm_id)
            where t.eventtype = 'discharge' group by 1
        )
        select
            (select count(*) from ed_only e join admissions a using (subject_id)
                where e.outtime >= coalesce(a.edregtime, a.admittime) and e.intime <= a.dischtime),
            (select count(*) from ed_only e join span s using (subject_id)
                where e.intime < s.first_in - interval 365 days or e.intime > s.last_out + interval 365 days),
            (select count(*) from ed_only e join patients p using (subject_id)
                where p.dod is not null and cast(e.intime as date) > p.dod),
            (select count(*) from patients where subject_id not in (select subject_id from admissions)
                and anchor_year_group not in ('2011 - 2013', '2014 - 2016', '2017 - 2019'))
        """
    ).fetchone()
    assert problems == (0, 0, 0, 0)
    assert scalar(db, "select count(*) from transfers where hadm_id is null") > 0


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
    transfers = params["transfers"]
    assert sum(transfers["eventtype_counts"].values()) == transfers["n"]  # 1,190 rows in the demo
    assert sum(transfers["ed_only_visits_per_patient_counts"].values()) == patients["n"]
    assert admissions["back_to_back"] == {"pairs": 175, "within_max_gap": 3, "max_gap_minutes": 15}
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
    assert doc.read_text() == document.render_markdown(generator.load_params())
    # dbt parses docs/ for docs blocks: the page must hold no Jinja
    assert "{{" not in doc.read_text() and "{%" not in doc.read_text()


# --------------------------------------------------------------------------------------------
# Patient-level severity
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def severity_correlations(large_release: Path) -> dict[str, object]:
    con = correlations.connect_release(large_release, correlations.hcup_chronic_codes())
    try:
        return correlations.correlations(con)
    finally:
        con.close()


def test_severity_links_chronic_burden_icu_stay_length_and_death(
    severity_correlations: dict[str, object],
) -> None:
    """At 20,000 patients every pair of patient features moves together, as in the demo (whose
    ten Spearman correlations are all positive)."""
    features = severity_correlations["features"]
    assert isinstance(features, dict)
    assert len(features) == 10
    assert min(features.values()) > 0.05, features
    assert features["chronic_conditions ~ died"] > 0.15
    assert features["icu_stays ~ died"] > 0.1


def test_severity_predicts_the_next_year(severity_correlations: dict[str, object]) -> None:
    """Sicker patients at their index use the hospital more, and die more, in the next year."""
    outcomes = severity_correlations["outcomes"]
    assert isinstance(outcomes, dict)
    for feature in ("admissions", "chronic_conditions", "icu_stays"):
        for outcome in correlations.OUTCOMES:
            assert outcomes[f"{feature} ~ {outcome}"] > 0.1, (feature, outcome)


def test_without_severity_the_features_are_unlinked(tmp_path: Path) -> None:
    """Loadings of 0 switch the severity off: chronic burden and death no longer move together."""
    params = generator.load_params()
    params["severity"]["loadings"] = dict.fromkeys(params["severity"]["loadings"], 0.0)
    generate_release(tmp_path / "flat", 6_000, seed=3, params=params)
    con = correlations.connect_release(tmp_path / "flat", correlations.hcup_chronic_codes())
    features = correlations.correlations(con)["features"]
    assert abs(features["chronic_conditions ~ died"]) < 0.1
    assert abs(features["mean_los_days ~ died"]) < 0.1


def test_shorter_gaps_for_patients_with_more_admissions(large_db: duckdb.DuckDBPyConnection) -> None:
    """Gaps shrink with severity, as admissions grow with it: patients with 4+ admissions return
    sooner than patients with 2, and more of their returns are within 30 days."""
    by_count = dict(
        large_db.execute(
            """
            with gaps as (
                select subject_id, count(*) over (partition by subject_id) as n,
                       epoch(admittime - lag(dischtime) over (partition by subject_id order by admittime))
                       / 86400 as gap_days
                from admissions
            )
            select n >= 4, avg((gap_days <= 30)::int) from gaps
            where gap_days is not null and n = 2 or n >= 4 and gap_days is not null group by 1
            """
        ).fetchall()
    )
    assert by_count[True] > by_count[False] + 0.05


def test_copula_helpers_keep_the_marginals() -> None:
    rng = np.random.default_rng(0)
    severity = rng.standard_normal(50_000)
    x = arrays.latent(rng, severity, 0.6)
    assert np.corrcoef(x, severity)[0, 1] == pytest.approx(0.6, abs=0.02)
    assert x.std() == pytest.approx(1.0, abs=0.02)
    scores = arrays.normal_scores(np.exp(x))  # any monotone transform gives back the same scores
    assert np.allclose(scores, arrays.normal_scores(x))
    assert arrays.rank_uniform(np.array([3.0, 1.0, 2.0])).tolist() == pytest.approx([5 / 6, 1 / 6, 1 / 2])
    counts = model.IntDistribution(values=np.array([1, 3]), probabilities=np.array([0.5, 0.5]))
    thinned = model.thinned_counts(counts, 0.5)  # 3 -> 1 + Binomial(2, 0.5)
    assert thinned.values.tolist() == [1, 2, 3]
    assert thinned.probabilities.tolist() == pytest.approx([0.625, 0.25, 0.125])


def test_one_factor_loadings_recover_a_factor_model() -> None:
    names = ("a", "b", "c")
    truth = {"a": 0.8, "b": 0.6, "c": 0.3}
    # Spearman's rho of a Gaussian copula with normal correlation r: (6 / pi) asin(r / 2)
    pairs = {
        correlations.pair_key(x, y): 6 / np.pi * np.arcsin(truth[x] * truth[y] / 2)
        for i, x in enumerate(names)
        for y in names[i + 1 :]
    }
    fitted = correlations.one_factor_loadings(pairs, names)
    assert fitted == pytest.approx(truth, abs=0.002)


def test_demo_correlations_are_the_committed_ones() -> None:
    """The demo's column of docs/generator.md is a fresh measurement of the demo."""
    if not (DEMO_DIR / "hosp" / "patients.csv.gz").is_file():
        pytest.skip(f"MIMIC-IV demo not found at {DEMO_DIR}")
    con = correlations.connect_release(DEMO_DIR, correlations.hcup_chronic_codes())
    measured = correlations.correlations(con)
    assert measured == generator.load_params()["severity"]["demo"]
    assert measured["patients"] == 100


def test_generated_correlations_are_committed_for_a_full_size_release() -> None:
    generated = correlations.load_generated()
    assert generated is not None
    assert generated["generated_patients"] == 364_627
    assert set(generated["features"]) == set(generator.load_params()["severity"]["demo"]["features"])
    # the generated release keeps the published totals (MIMIC-IV 3.1)
    shape = model.RELEASES["3.1"]
    assert generated["rows"]["hosp/admissions"] == pytest.approx(shape.admissions, rel=0.02)
    assert generated["rows"]["icu/icustays"] == pytest.approx(shape.icustays, rel=0.05)
    assert generated["patients"] / 364_627 == pytest.approx(shape.admitted_share, abs=0.005)
