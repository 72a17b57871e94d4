"""Fit the MIMIC-shaped generator's distributions from the MIMIC-IV demo.

Reads the demo's ``hosp/patients``, ``hosp/admissions``, ``hosp/diagnoses_icd``,
``hosp/transfers`` and ``icu/icustays`` (``.csv.gz``, official layout) and writes only
aggregates: shares, category frequencies, histogram counts and log-normal parameters (mean and
standard deviation of the natural log). No row of the demo is copied: the output is a small
JSON file that the generator (``mimic_segments.synthetic.generator``) loads and that
``docs/generator.md`` tabulates.

Usage::

    python -m mimic_segments.synthetic.fit --demo-dir /path/to/mimic-iv-demo/2.2 \\
        [--out src/mimic_segments/synthetic/generator_params.json]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
from pathlib import Path
from typing import Any

import duckdb

from mimic_segments.synthetic import correlations, document

DEFAULT_OUT = Path(__file__).with_name("generator_params.json")
DEFAULT_DOC = document.DEFAULT_DOC
TABLES = {
    "patients": "hosp/patients.csv.gz",
    "admissions": "hosp/admissions.csv.gz",
    "diagnoses_icd": "hosp/diagnoses_icd.csv.gz",
    "transfers": "hosp/transfers.csv.gz",
    "icustays": "icu/icustays.csv.gz",
}
# Every column typed explicitly, as in the dbt sources: ICD codes stay strings.
COLUMNS = {
    "patients": "{'subject_id': 'BIGINT', 'gender': 'VARCHAR', 'anchor_age': 'INTEGER', "
    "'anchor_year': 'INTEGER', 'anchor_year_group': 'VARCHAR', 'dod': 'DATE'}",
    "admissions": "{'subject_id': 'BIGINT', 'hadm_id': 'BIGINT', 'admittime': 'TIMESTAMP', "
    "'dischtime': 'TIMESTAMP', 'deathtime': 'TIMESTAMP', 'admission_type': 'VARCHAR', "
    "'admit_provider_id': 'VARCHAR', 'admission_location': 'VARCHAR', 'discharge_location': 'VARCHAR', "
    "'insurance': 'VARCHAR', 'language': 'VARCHAR', 'marital_status': 'VARCHAR', 'race': 'VARCHAR', "
    "'edregtime': 'TIMESTAMP', 'edouttime': 'TIMESTAMP', 'hospital_expire_flag': 'INTEGER'}",
    "diagnoses_icd": "{'subject_id': 'BIGINT', 'hadm_id': 'BIGINT', 'seq_num': 'INTEGER', "
    "'icd_code': 'VARCHAR', 'icd_version': 'INTEGER'}",
    "transfers": "{'subject_id': 'BIGINT', 'hadm_id': 'BIGINT', 'transfer_id': 'BIGINT', "
    "'eventtype': 'VARCHAR', 'careunit': 'VARCHAR', 'intime': 'TIMESTAMP', 'outtime': 'TIMESTAMP'}",
    "icustays": "{'subject_id': 'BIGINT', 'hadm_id': 'BIGINT', 'stay_id': 'BIGINT', "
    "'first_careunit': 'VARCHAR', 'last_careunit': 'VARCHAR', 'intime': 'TIMESTAMP', "
    "'outtime': 'TIMESTAMP', 'los': 'DOUBLE'}",
}
# anchor_age histogram: 10-year bins from 18, and 91 (MIMIC's "older than 89") on its own.
AGE_BIN_EDGES = [18, 30, 40, 50, 60, 70, 80, 90, 91, 92]
# Positive durations below this floor are fitted as the floor (a log-normal needs x > 0).
MIN_HOURS = 1.0
MIN_DAYS = MIN_HOURS / 24.0
MIN_TYPE_ROWS = 5  # admission types with fewer rows use the pooled length-of-stay fit
# A stay that starts at most this many minutes after the patient's previous discharge is a
# back-to-back stay (an administrative hand-off, e.g. ED observation to inpatient): the demo has
# 3 such pairs (0, 1 and 15 minutes) and none between 15 minutes and 20.5 hours.
BACK_TO_BACK_MAX_MINUTES = 15
# The severity's loadings are kept below this: at 1 a channel would follow the severity alone.
MAX_LOADING = 0.8


class FitError(RuntimeError):
    """The demo directory is missing a file or does not look like the demo."""


def _connect(demo_dir: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    for table, relative in TABLES.items():
        path = demo_dir / relative
        if not path.is_file():
            raise FitError(f"missing {path}: expected the MIMIC-IV demo in its official layout")
        con.execute(
            f"create view {table} as select * from read_csv('{path}', header = true, "
            f"auto_detect = false, columns = {COLUMNS[table]})"
        )
    return con


def _rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple[Any, ...]]:
    return con.execute(sql).fetchall()


def _counts(con: duckdb.DuckDBPyConnection, sql: str) -> dict[str, int]:
    """``sql`` returns (key, count); keys become strings, NULL becomes ''. Ordered by key."""
    return {
        ("" if key is None else str(key)): int(count)
        for key, count in sorted(_rows(con, sql), key=lambda row: str(row[0]))
    }


def _share_by_type(con: duckdb.DuckDBPyConnection, condition: str) -> dict[str, float]:
    """Per admission type, the share of admissions for which ``condition`` holds."""
    return {
        str(admission_type): round(float(share), 6)
        for admission_type, share in _rows(
            con, f"select admission_type, avg(({condition})::int) from admissions group by 1 order by 1"
        )
    }


def _lognormal(con: duckdb.DuckDBPyConnection, values_sql: str, floor: float) -> dict[str, float]:
    """Mean and standard deviation of ln(max(x, floor)) over the non-null x of ``values_sql``."""
    mu, sigma, n = _rows(
        con,
        f"select avg(ln(greatest(x, {floor}))), stddev_pop(ln(greatest(x, {floor}))), count(*) "
        f"from ({values_sql}) where x is not null",
    )[0]
    return {"mu": round(float(mu), 6), "sigma": round(float(sigma), 6), "n": int(n)}


def fit(demo_dir: Path) -> dict[str, Any]:
    """Return the generator's parameters fitted from the demo at ``demo_dir``."""
    con = _connect(demo_dir)
    n_patients = _rows(con, "select count(*) from patients")[0][0]
    age_cases = " ".join(
        f"when anchor_age < {high} then '{low}'" for low, high in itertools.pairwise(AGE_BIN_EDGES)
    )
    patients = {
        "n": int(n_patients),
        "gender_counts": _counts(con, "select gender, count(*) from patients group by 1"),
        "anchor_age_bin_edges": AGE_BIN_EDGES,
        "anchor_age_bin_counts": _counts(
            con, f"select case {age_cases} end, count(*) from patients group by 1"
        ),
        "anchor_year_min": int(_rows(con, "select min(anchor_year) from patients")[0][0]),
        "anchor_year_max": int(_rows(con, "select max(anchor_year) from patients")[0][0]),
        "anchor_year_group_counts": _counts(
            con, "select anchor_year_group, count(*) from patients group by 1"
        ),
        # years from anchor_year to the patient's first admission (0 = in the anchor year)
        "first_admission_years_after_anchor_counts": _counts(
            con,
            "select y, count(*) from (select min(year(a.admittime)) - any_value(p.anchor_year) as y "
            "from patients p join admissions a using (subject_id) group by p.subject_id) group by 1",
        ),
    }

    per_admission_patient = (
        "select subject_id, max(hospital_expire_flag) as died_in_hospital, max(dischtime) as last_discharge "
        "from admissions group by subject_id"
    )
    admissions = {
        "n": int(_rows(con, "select count(*) from admissions")[0][0]),
        "per_patient_counts": _counts(
            con, "select n, count(*) from (select count(*) n from admissions group by subject_id) group by 1"
        ),
        "admission_type_counts": _counts(con, "select admission_type, count(*) from admissions group by 1"),
        "los_days_lognormal_pooled": _lognormal(
            con, "select epoch(dischtime - admittime) / 86400 as x from admissions", MIN_DAYS
        ),
        "los_days_lognormal_by_type": {
            admission_type: _lognormal(
                con,
                "select epoch(dischtime - admittime) / 86400 as x from admissions "
                f"where admission_type = '{admission_type}'",
                MIN_DAYS,
            )
            for (admission_type,) in _rows(
                con,
                "select admission_type from admissions group by 1 "
                f"having count(*) >= {MIN_TYPE_ROWS} order by 1",
            )
        },
        # gaps longer than a back-to-back hand-off (those are drawn on their own, below)
        "readmission_gap_days_lognormal": _lognormal(
            con,
            f"select gap_minutes / 1440 as x from ({GAPS_SQL}) "
            f"where gap_minutes > {BACK_TO_BACK_MAX_MINUTES}",
            MIN_DAYS,
        ),
        "back_to_back": _back_to_back(con),
        "ed_share_by_type": _share_by_type(con, "edregtime is not null"),
        "ed_hours_before_admission_lognormal": _lognormal(
            con, "select epoch(admittime - edregtime) / 3600 as x from admissions", MIN_HOURS
        ),
        "ed_hours_after_admission_lognormal": _lognormal(
            con, "select epoch(edouttime - admittime) / 3600 as x from admissions", MIN_HOURS
        ),
        "patients_with_hospital_death_share": round(
            float(_rows(con, f"select avg(died_in_hospital) from ({per_admission_patient})")[0][0]), 6
        ),
        "admission_location_counts": _counts(
            con, "select admission_location, count(*) from admissions group by 1"
        ),
        "discharge_location_counts_alive": _counts(
            con,
            "select discharge_location, count(*) from admissions where hospital_expire_flag = 0 group by 1",
        ),
        "insurance_counts": _counts(con, "select insurance, count(*) from admissions group by 1"),
        "language_counts": _counts(con, "select language, count(*) from admissions group by 1"),
        "marital_status_counts": _counts(con, "select marital_status, count(*) from admissions group by 1"),
        "race_counts": _counts(con, "select race, count(*) from admissions group by 1"),
        "distinct_providers": int(
            _rows(con, "select count(distinct admit_provider_id) from admissions")[0][0]
        ),
    }

    deaths = {
        "dod_share_without_hospital_death": round(
            float(
                _rows(
                    con,
                    f"select avg((p.dod is not null)::int) from ({per_admission_patient}) a "
                    "join patients p using (subject_id) where a.died_in_hospital = 0",
                )[0][0]
            ),
            6,
        ),
        "dod_days_after_last_discharge_lognormal": _lognormal(
            con,
            f"select p.dod - a.last_discharge::date as x from ({per_admission_patient}) a "
            "join patients p using (subject_id) where a.died_in_hospital = 0",
            1.0,
        ),
    }

    diagnoses = {
        "n": int(_rows(con, "select count(*) from diagnoses_icd")[0][0]),
        "per_admission_counts": _counts(
            con,
            "select coalesce(n, 0), count(*) from admissions a left join "
            "(select hadm_id, count(*) n from diagnoses_icd group by 1) d using (hadm_id) group by 1",
        ),
        "icd_version_counts": _counts(con, "select icd_version, count(*) from diagnoses_icd group by 1"),
        "code_counts": {
            str(version): _counts(
                con,
                f"select icd_code, count(*) from diagnoses_icd where icd_version = {version} group by 1",
            )
            for version in (9, 10)
        },
    }

    icustays = {
        "n": int(_rows(con, "select count(*) from icustays")[0][0]),
        "per_admission_counts": _counts(
            con,
            "select coalesce(n, 0), count(*) from admissions a left join "
            "(select hadm_id, count(*) n from icustays group by 1) i using (hadm_id) group by 1",
        ),
        "admission_share_by_type": _share_by_type(con, "hadm_id in (select hadm_id from icustays)"),
        "los_days_lognormal": _lognormal(con, "select los as x from icustays", MIN_DAYS),
        "intime_days_after_admission_lognormal": _lognormal(
            con,
            "select epoch(i.intime - a.admittime) / 86400 as x "
            "from icustays i join admissions a using (hadm_id)",
            MIN_DAYS,
        ),
        "first_careunit_counts": _counts(con, "select first_careunit, count(*) from icustays group by 1"),
        "careunit_change_share": round(
            float(_rows(con, "select avg((first_careunit <> last_careunit)::int) from icustays")[0][0]), 6
        ),
    }
    transfers = _fit_transfers(con)
    chronic = correlations.hcup_chronic_codes()
    correlations.register_chronic_codes(con, chronic)
    demo_codes = {(int(v), code) for v, codes in diagnoses["code_counts"].items() for code in codes}
    diagnoses["chronic_codes"] = {
        str(version): sorted(code for v, code in chronic if v == version and (v, code) in demo_codes)
        for version in (9, 10)
    }
    severity = _fit_severity(con)
    con.close()
    return {
        "fitted_from": "MIMIC-IV Clinical Database Demo 2.2 (aggregates only; no demo row is stored)",
        "patients": patients,
        "admissions": admissions,
        "deaths": deaths,
        "diagnoses": diagnoses,
        "icustays": icustays,
        "transfers": transfers,
        "severity": severity,
    }


def _fit_severity(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """The demo's correlations (``mimic_segments.synthetic.correlations``) and the loadings of
    one common factor fitted to its patient features' Spearman correlations (through the
    Gaussian copula's r = 2 sin(pi rho / 6)), clipped to [0, MAX_LOADING]: the strength with
    which the generator's latent severity drives each channel."""
    measured = correlations.correlations(con)
    loadings = correlations.one_factor_loadings(measured["features"], correlations.FEATURES)
    return {
        "loadings": {name: min(max(value, 0.0), MAX_LOADING) for name, value in loadings.items()},
        "one_factor_loadings": loadings,
        "demo": measured,
    }


# Each admission's gap from the same patient's previous discharge, in minutes (null for a first).
GAPS_SQL = (
    "select admission_type, epoch(admittime - lag(dischtime) over "
    "(partition by subject_id order by admittime)) / 60 as gap_minutes from admissions"
)
# The admit and transfer rows of the transfers table, each flagged when it lies inside an ICU stay
# of its admission (icustays is derived from transfers: its times are those of transfer rows).
WARD_ROWS_SQL = (
    "select t.hadm_id, t.eventtype, t.careunit, t.intime, exists (select 1 from icustays i "
    "where i.hadm_id = t.hadm_id and t.intime >= i.intime and t.outtime <= i.outtime) as in_icu "
    "from transfers t where t.eventtype in ('admit', 'transfer')"
)
# ED rows without an admission: ED visits that did not lead to a hospital stay.
ED_ONLY_SQL = "select subject_id, intime, outtime from transfers where eventtype = 'ED' and hadm_id is null"


def _back_to_back(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Consecutive pairs of a patient's stays, and those at most BACK_TO_BACK_MAX_MINUTES apart."""
    pairs, within = _rows(
        con,
        f"select count(*), count(*) filter (where gap_minutes <= {BACK_TO_BACK_MAX_MINUTES}) "
        f"from ({GAPS_SQL}) where gap_minutes is not null",
    )[0]
    return {"pairs": int(pairs), "within_max_gap": int(within), "max_gap_minutes": BACK_TO_BACK_MAX_MINUTES}


def _fit_transfers(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """Each admission's chain of locations, and the ED visits that did not lead to an admission."""
    chain_times = (
        "select a.hadm_id, any_value(a.admittime) admittime, any_value(a.dischtime) dischtime, "
        "any_value(a.edregtime) edregtime, "
        "min(t.intime) filter (where t.eventtype = 'admit') ward_start, "
        "min(t.intime) filter (where t.eventtype = 'discharge') discharge_event "
        "from admissions a join transfers t using (hadm_id) group by 1"
    )
    ward_moves = (
        "select a.hadm_id, count(w.hadm_id) as moves from admissions a left join "
        "(select hadm_id, in_icu, lag(in_icu) over (partition by hadm_id order by intime) as previous_in_icu "
        f"from ({WARD_ROWS_SQL})) w on w.hadm_id = a.hadm_id and not w.in_icu and not w.previous_in_icu "
        "group by 1"
    )
    return {
        "n": int(_rows(con, "select count(*) from transfers")[0][0]),
        "eventtype_counts": _counts(con, "select eventtype, count(*) from transfers group by 1"),
        "ed_rows_without_admission": int(_rows(con, f"select count(*) from ({ED_ONLY_SQL})")[0][0]),
        # the first ward row of an admission that did not come through the ED starts minutes
        # after admittime (fitted on the rows that start after it; some start before)
        "ward_minutes_after_admittime_without_ed_lognormal": _lognormal(
            con,
            f"select epoch(ward_start - admittime) / 60 as x from ({chain_times}) "
            "where edregtime is null and ward_start > admittime",
            1.0 / 60.0,
        ),
        "discharge_minutes_after_dischtime_lognormal": _lognormal(
            con, f"select epoch(discharge_event - dischtime) / 60 as x from ({chain_times})", 1.0 / 60.0
        ),
        # moves from one ward (non-ICU) row straight to another, per admission
        "ward_moves_per_admission_counts": _counts(
            con, f"select moves, count(*) from ({ward_moves}) group by 1"
        ),
        "first_ward_careunit_counts": _counts(
            con,
            f"select careunit, count(*) from ({WARD_ROWS_SQL}) "
            "where not in_icu and eventtype = 'admit' group by 1",
        ),
        "later_ward_careunit_counts": _counts(
            con,
            f"select careunit, count(*) from ({WARD_ROWS_SQL}) "
            "where not in_icu and eventtype = 'transfer' group by 1",
        ),
        "ed_only_visits_per_patient_counts": _counts(
            con,
            "select coalesce(n, 0), count(*) from patients p left join (select subject_id, count(*) n "
            f"from ({ED_ONLY_SQL}) group by 1) e using (subject_id) group by 1",
        ),
        "ed_only_visit_hours_lognormal": _lognormal(
            con, f"select epoch(outtime - intime) / 3600 as x from ({ED_ONLY_SQL})", MIN_HOURS / 60.0
        ),
        "days_between_ed_only_visits_lognormal": _lognormal(
            con,
            "select epoch(intime - lag(outtime) over (partition by subject_id order by intime)) / 86400 as x "
            f"from ({ED_ONLY_SQL})",
            MIN_DAYS,
        ),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--demo-dir",
        type=Path,
        default=os.environ.get("MIMIC_DEMO_DIR"),
        help="MIMIC-IV demo 2.2 in its official layout (default: $MIMIC_DEMO_DIR)",
    )
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"JSON to write (default: {DEFAULT_OUT})"
    )
    parser.add_argument(
        "--doc", type=Path, default=DEFAULT_DOC, help=f"markdown table to write (default: {DEFAULT_DOC})"
    )
    args = parser.parse_args(argv)
    if args.demo_dir is None:
        parser.error("--demo-dir is required (or set MIMIC_DEMO_DIR)")
    try:
        params = fit(Path(args.demo_dir))
    except FitError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    args.out.write_text(json.dumps(params, indent=1, sort_keys=False) + "\n")
    args.doc.write_text(document.render_markdown(params, correlations.load_generated()))
    n_codes = sum(len(codes) for codes in params["diagnoses"]["code_counts"].values())
    print(f"wrote {args.out}: {n_codes} ICD codes, {len(json.dumps(params))} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
