"""Fit the MIMIC-shaped generator's distributions from the MIMIC-IV demo.

Reads the demo's ``hosp/patients``, ``hosp/admissions``, ``hosp/diagnoses_icd`` and
``icu/icustays`` (``.csv.gz``, official layout) and writes only aggregates: shares, category
frequencies, histogram counts and log-normal parameters (mean and standard deviation of the
natural log). No row of the demo is copied: the output is a small JSON file that the generator
(``mimic_segments.synthetic.generator``) loads and that ``docs/generator.md`` tabulates.

Usage::

    python -m mimic_segments.synthetic.fit --demo-dir /path/to/mimic-iv-demo/2.2 \\
        [--out src/mimic_segments/synthetic/generator_params.json]
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import sys
from pathlib import Path
from typing import Any

import duckdb

from mimic_segments import PROJECT_ROOT

DEFAULT_OUT = Path(__file__).with_name("generator_params.json")
DEFAULT_DOC = PROJECT_ROOT / "docs" / "generator.md"
TABLES = {
    "patients": "hosp/patients.csv.gz",
    "admissions": "hosp/admissions.csv.gz",
    "diagnoses_icd": "hosp/diagnoses_icd.csv.gz",
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
        "readmission_gap_days_lognormal": _lognormal(
            con,
            "select epoch(admittime - lag(dischtime) over (partition by subject_id order by admittime))"
            " / 86400 as x from admissions",
            MIN_DAYS,
        ),
        "ed_share_by_type": {
            str(admission_type): round(float(share), 6)
            for admission_type, share in _rows(
                con,
                "select admission_type, avg((edregtime is not null)::int) from admissions "
                "group by 1 order by 1",
            )
        },
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
    con.close()
    return {
        "fitted_from": "MIMIC-IV Clinical Database Demo 2.2 (aggregates only; no demo row is stored)",
        "patients": patients,
        "admissions": admissions,
        "deaths": deaths,
        "diagnoses": diagnoses,
        "icustays": icustays,
    }


def _share(counts: dict[str, int], limit: int | None = None) -> str:
    total = float(sum(counts.values()))
    items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    shown = items if limit is None else items[:limit]
    text = ", ".join(f"{key or '(empty)'} {count / total:.1%}" for key, count in shown)
    return text + (f", {len(items) - limit} more" if limit is not None and len(items) > limit else "")


def _ln(params: dict[str, float], unit: str) -> str:
    return (
        f"log-normal, median {math.exp(params['mu']):.3g} {unit} "
        f"(mu {params['mu']:.3f}, sigma {params['sigma']:.3f}, n {params['n']})"
    )


def render_markdown(params: dict[str, Any]) -> str:
    """``docs/generator.md``: the fitted numbers, one table row per distribution."""
    p, a, deaths, d, i = (
        params["patients"],
        params["admissions"],
        params["deaths"],
        params["diagnoses"],
        params["icustays"],
    )
    n_codes = {version: len(codes) for version, codes in d["code_counts"].items()}
    top_codes = {
        version: ", ".join(code for code, _ in sorted(codes.items(), key=lambda kv: (-kv[1], kv[0]))[:5])
        for version, codes in d["code_counts"].items()
    }
    edges = p["anchor_age_bin_edges"]
    bin_label = {
        str(low): (f"{low}-{high - 1}" if high - 1 > low else str(low))
        for low, high in itertools.pairwise(edges)
    }
    rows = [
        ("patients: gender", _share(p["gender_counts"])),
        (
            "patients: anchor_age (91 = older than 89; uniform within a bin)",
            _share({bin_label[k]: v for k, v in p["anchor_age_bin_counts"].items()}),
        ),
        (
            "patients: shifted anchor_year",
            f"uniform {p['anchor_year_min']}-{p['anchor_year_max']} (the demo's range)",
        ),
        (
            "patients: anchor_year_group",
            f"demo: {_share(p['anchor_year_group_counts'])}; the demo covers two groups only, so the "
            "generator draws the group uniformly from the release's (2008 - 2010 ... 2017 - 2019 for "
            "2.2, ... 2020 - 2022 for 3.1)",
        ),
        (
            "first admission, years after anchor_year",
            _share(p["first_admission_years_after_anchor_counts"]),
        ),
        ("admissions per admitted patient", _share(a["per_patient_counts"], 8)),
        ("admission_type", _share(a["admission_type_counts"])),
        ("length of stay, all types (days)", _ln(a["los_days_lognormal_pooled"], "days")),
        *(
            (f"length of stay, {t} (days)", _ln(fit, "days"))
            for t, fit in a["los_days_lognormal_by_type"].items()
        ),
        ("gap from a discharge to the next admission", _ln(a["readmission_gap_days_lognormal"], "days")),
        (
            "ED registration, share by admission type",
            ", ".join(f"{t} {v:.0%}" for t, v in a["ed_share_by_type"].items()),
        ),
        ("ED registration before admission", _ln(a["ed_hours_before_admission_lognormal"], "hours")),
        ("ED departure after admission", _ln(a["ed_hours_after_admission_lognormal"], "hours")),
        ("patients who die in hospital (last stay)", f"{a['patients_with_hospital_death_share']:.1%}"),
        (
            "patients with a date of death after discharge",
            f"{deaths['dod_share_without_hospital_death']:.1%} of the others, "
            + _ln(deaths["dod_days_after_last_discharge_lognormal"], "days")
            + " after the last discharge",
        ),
        ("admission_location", _share(a["admission_location_counts"], 5)),
        ("discharge_location (alive)", _share(a["discharge_location_counts_alive"], 5)),
        ("insurance", _share(a["insurance_counts"])),
        ("language", _share(a["language_counts"])),
        ("marital_status", _share(a["marital_status_counts"])),
        ("race", _share(a["race_counts"], 5)),
        ("diagnoses per admission", _share(d["per_admission_counts"], 8)),
        (
            "ICD version",
            f"demo: {_share(d['icd_version_counts'])}; generated: ICD-9-CM before 2015-10-01, ICD-10-CM "
            "from then on (the US switch), by the stay's real date",
        ),
        (
            "ICD codes",
            f"the demo's frequencies: {n_codes['9']} ICD-9-CM codes (most frequent {top_codes['9']}), "
            f"{n_codes['10']} ICD-10-CM codes (most frequent {top_codes['10']})",
        ),
        ("ICU stays per admission", _share(i["per_admission_counts"])),
        ("ICU length of stay", _ln(i["los_days_lognormal"], "days")),
        ("ICU admission after hospital admission", _ln(i["intime_days_after_admission_lognormal"], "days")),
        ("first_careunit", _share(i["first_careunit_counts"], 5)),
        ("stays that change care unit", f"{i['careunit_change_share']:.1%}"),
    ]
    lines = [
        "# The MIMIC-shaped generator's distributions",
        "",
        "Fitted by `python -m mimic_segments.synthetic.fit` from the MIMIC-IV Clinical Database Demo "
        f"2.2 ({p['n']} patients, {a['n']} admissions, {d['n']:,} diagnosis rows, {i['n']} ICU stays) "
        "and stored as aggregates only in `src/mimic_segments/synthetic/generator_params.json`; this page is "
        "rendered from that file (a test keeps them equal). How the generator uses them: the docstring "
        "of `src/mimic_segments/synthetic/generator.py`.",
        "",
        "Volumes: with `--volumes release` (default) the shapes above are kept and four rates are "
        "scaled to the chosen release's published totals (3.1: 364,627 patients of whom 223,452 have "
        "an admission, 546,028 admissions, 6,364,488 diagnosis rows, 94,458 ICU stays; 2.2: "
        "299,712 / 180,733 / 431,231 / 4,756,326 / 73,181): the share of patients with any "
        "admission (3.1: 61.3 %, so 38.7 % of the registry is never admitted, reached the hospital "
        "only through the emergency department or outpatient care; 2.2: 60.3 %), admissions per "
        "admitted patient (each admission after the first kept with one probability), diagnoses "
        "per admission (binomial thinning, at least one) and the share of admissions with an ICU "
        "stay. Source: the row counts of the releases' `hosp/patients` and `hosp/admissions` "
        "(distinct `subject_id`) on PhysioNet. The demo holds admitted ICU patients only, so its "
        "own rates (`--volumes demo`) are far heavier per patient than the full release.",
        "",
        "| distribution | fitted from the demo |",
        "| --- | --- |",
        *(f"| {name} | {value} |" for name, value in rows),
        "",
    ]
    return "\n".join(lines)


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
    args.doc.write_text(render_markdown(params))
    n_codes = sum(len(codes) for codes in params["diagnoses"]["code_counts"].values())
    print(f"wrote {args.out}: {n_codes} ICD codes, {len(json.dumps(params))} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
