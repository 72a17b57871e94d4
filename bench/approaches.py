"""The two non-dbt ways of computing `patient_features` + K-Means that the benchmark times.

(b) ``pandas``: what a user would otherwise write in a notebook: pandas reads the release's
    gzipped CSVs, computes each feature with groupby/merge, then scikit-learn clusters
    (StandardScaler + K-Means, through the project's ``fit_segments`` so the fit is the same).
(c) ``duckdb``: the lower bound: one hand-written DuckDB query over the same CSVs for the same
    features, then the same fit.

Both follow the definitions of the dbt models exactly (docs/definitions.md): the per-patient
as-of date estimated from the anchor year group and the release's last data year, distinct
(version, code) diagnoses, ICU days from MIMIC's ``los``, 0 for "no events", NULL where there
is no last admission. The benchmark checks that (a), (b) and (c) agree on every patient before
it times them.

Run one approach (the benchmark runs each in its own process to measure its peak memory)::

    python bench/approaches.py {pandas,duckdb} --release-dir DIR --last-data-year 2022 \\
        [--features-out features.parquet]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import yaml

from mimic_segments.clustering import fit_segments, parse_feature_list

REPO_ROOT = Path(__file__).resolve().parents[1]

# The columns of marts.patient_features, in order.
FEATURE_COLUMNS = (
    "subject_id",
    "num_admissions",
    "avg_length_of_stay_days",
    "total_length_of_stay_days",
    "days_since_last_admission",
    "num_unique_icd_diagnoses",
    "icu_stay_count",
    "total_icu_days",
    "gender",
    "age_at_last_admission",
    "age_bucket",
    "anchor_year_group",
    "estimated_as_of_date",
)


def clustering_vars() -> tuple[list[str], int, int]:
    """cluster_features, cluster_k and cluster_random_state from dbt_project.yml (one truth)."""
    project = yaml.safe_load((REPO_ROOT / "dbt_project.yml").read_text())
    variables: dict[str, Any] = project["vars"]
    return (
        parse_feature_list(variables["cluster_features"]),
        int(variables["cluster_k"]),
        int(variables["cluster_random_state"]),
    )


# --------------------------------------------------------------------------------------------
# (b) pandas
# --------------------------------------------------------------------------------------------


def pandas_features(release_dir: Path, last_data_year: int) -> pd.DataFrame:
    hosp, icu = release_dir / "hosp", release_dir / "icu"
    patients = pd.read_csv(
        hosp / "patients.csv.gz",
        usecols=["subject_id", "gender", "anchor_age", "anchor_year", "anchor_year_group"],
        dtype={"subject_id": "int64", "gender": "str", "anchor_age": "int64", "anchor_year": "int64"},
    )
    admissions = pd.read_csv(
        hosp / "admissions.csv.gz",
        usecols=["subject_id", "admittime", "dischtime"],
        dtype={"subject_id": "int64"},
        parse_dates=["admittime", "dischtime"],
        date_format="%Y-%m-%d %H:%M:%S",
    )
    diagnoses = pd.read_csv(
        hosp / "diagnoses_icd.csv.gz",
        usecols=["subject_id", "icd_code", "icd_version"],
        dtype={"subject_id": "int64", "icd_code": "str", "icd_version": "int64"},
    )
    icustays = pd.read_csv(
        icu / "icustays.csv.gz",
        usecols=["subject_id", "intime", "outtime", "los"],
        dtype={"subject_id": "int64", "los": "float64"},
        parse_dates=["intime", "outtime"],
        date_format="%Y-%m-%d %H:%M:%S",
    )

    admissions["los_days"] = (admissions["dischtime"] - admissions["admittime"]).dt.total_seconds() / 86400.0
    admissions["admit_year"] = admissions["admittime"].dt.year
    per_admission = admissions.groupby("subject_id").agg(
        num_admissions=("los_days", "size"),
        total_length_of_stay_days=("los_days", "sum"),
        avg_length_of_stay_days=("los_days", "mean"),
        last_admitted_at=("admittime", "max"),
        last_admit_year=("admit_year", "max"),
    )
    diagnoses["icd_code"] = diagnoses["icd_code"].str.strip().str.upper()
    per_diagnosis = (
        diagnoses.dropna(subset=["icd_code", "icd_version"])
        .drop_duplicates(["subject_id", "icd_version", "icd_code"])
        .groupby("subject_id")
        .size()
        .rename("num_unique_icd_diagnoses")
    )
    icu_days = icustays["los"].fillna((icustays["outtime"] - icustays["intime"]).dt.total_seconds() / 86400.0)
    per_icu = (
        icustays.assign(icu_days=icu_days)
        .groupby("subject_id")
        .agg(icu_stay_count=("icu_days", "size"), total_icu_days=("icu_days", "sum"))
    )

    df = patients.merge(per_admission, on="subject_id", how="left")
    df = df.merge(per_diagnosis, on="subject_id", how="left").merge(per_icu, on="subject_id", how="left")
    for column in ("num_admissions", "num_unique_icd_diagnoses", "icu_stay_count"):
        df[column] = df[column].fillna(0).astype("int64")
    for column in ("total_length_of_stay_days", "avg_length_of_stay_days", "total_icu_days"):
        df[column] = df[column].fillna(0.0)

    gender = df["gender"].fillna("").str.strip().str.upper()
    df["gender"] = gender.where(gender.isin(["F", "M"]), "Unknown")
    group = df["anchor_year_group"].fillna("").str.strip()
    df["anchor_year_group"] = group.where(group != "", "Unknown")
    group_start = pd.to_numeric(group.str.split("-").str[0].str.strip(), errors="coerce")
    midpoint_shift = df["anchor_year"] - (group_start + 1)
    minimum_shift = df["last_admit_year"] - last_data_year
    shift = midpoint_shift.where(~(minimum_shift > midpoint_shift), minimum_shift)
    as_of_year = (last_data_year + shift).astype("Int64")
    df["estimated_as_of_date"] = pd.to_datetime(
        as_of_year.astype("str") + "-12-31", format="%Y-%m-%d", errors="coerce"
    )
    df["days_since_last_admission"] = (
        df["estimated_as_of_date"] - df["last_admitted_at"].dt.normalize()
    ).dt.days.astype("Int64")
    df["age_at_last_admission"] = (df["anchor_age"] + df["last_admit_year"] - df["anchor_year"]).astype(
        "Int64"
    )
    age = df["age_at_last_admission"]
    df["age_bucket"] = np.select(
        [age.isna().to_numpy(), (age < 45).fillna(False), (age < 65).fillna(False), (age < 80).fillna(False)],
        ["Unknown", "18-44", "45-64", "65-79"],
        default="80+",
    )
    return df.loc[:, list(FEATURE_COLUMNS)]


# --------------------------------------------------------------------------------------------
# (c) one DuckDB query
# --------------------------------------------------------------------------------------------

_READ = "read_csv('{path}', header = true, auto_detect = false, columns = {columns})"  # explicit types
_COLUMNS = {
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


def duckdb_features_sql(release_dir: Path, last_data_year: int) -> str:
    def read(module: str, table: str) -> str:
        return _READ.format(path=release_dir / module / f"{table}.csv.gz", columns=_COLUMNS[table])

    return f"""
with
admissions as (
    select
        subject_id,
        count(*) as num_admissions,
        sum(epoch(dischtime - admittime) / 86400.0) as total_los,
        avg(epoch(dischtime - admittime) / 86400.0) as avg_los,
        max(admittime) as last_admitted_at,
        max(year(admittime)) as last_admit_year
    from {read("hosp", "admissions")}
    group by subject_id
),
diagnoses as (
    select
        subject_id,
        count(distinct icd_version::varchar || ':' || upper(trim(icd_code))) as num_unique_icd_diagnoses
    from {read("hosp", "diagnoses_icd")}
    group by subject_id
),
icustays as (
    select subject_id, count(*) as icu_stay_count,
        sum(coalesce(los, epoch(outtime - intime) / 86400.0)) as total_icu_days
    from {read("icu", "icustays")}
    group by subject_id
),
patients as (
    select
        subject_id,
        case upper(trim(gender)) when 'F' then 'F' when 'M' then 'M' else 'Unknown' end as gender,
        anchor_age,
        anchor_year,
        coalesce(nullif(trim(anchor_year_group), ''), 'Unknown') as anchor_year_group,
        try_cast(trim(split_part(anchor_year_group, '-', 1)) as integer) as group_start
    from {read("hosp", "patients")}
),
joined as (
    select
        p.*,
        a.num_admissions, a.total_los, a.avg_los, a.last_admitted_at, a.last_admit_year,
        d.num_unique_icd_diagnoses, i.icu_stay_count, i.total_icu_days,
        -- the as-of estimate of int_patients_as_of_estimated: the midpoint of the anchor
        -- group, or the smallest shift the last admission allows if that is larger
        case
            when a.last_admit_year - {last_data_year} > p.anchor_year - (p.group_start + 1)
                then a.last_admit_year - {last_data_year}
            else p.anchor_year - (p.group_start + 1)
        end as year_shift,
        p.anchor_age + a.last_admit_year - p.anchor_year as age_at_last_admission
    from patients p
    left join admissions a using (subject_id)
    left join diagnoses d using (subject_id)
    left join icustays i using (subject_id)
)
select
    subject_id,
    coalesce(num_admissions, 0) as num_admissions,
    coalesce(avg_los, 0) as avg_length_of_stay_days,
    coalesce(total_los, 0) as total_length_of_stay_days,
    date_diff('day', cast(last_admitted_at as date), make_date({last_data_year} + year_shift, 12, 31))
        as days_since_last_admission,
    coalesce(num_unique_icd_diagnoses, 0) as num_unique_icd_diagnoses,
    coalesce(icu_stay_count, 0) as icu_stay_count,
    coalesce(total_icu_days, 0) as total_icu_days,
    gender,
    age_at_last_admission,
    case
        when age_at_last_admission is null then 'Unknown'
        when age_at_last_admission < 45 then '18-44'
        when age_at_last_admission < 65 then '45-64'
        when age_at_last_admission < 80 then '65-79'
        else '80+'
    end as age_bucket,
    anchor_year_group,
    make_date({last_data_year} + year_shift, 12, 31) as estimated_as_of_date
from joined
"""


def duckdb_features(release_dir: Path, last_data_year: int) -> pd.DataFrame:
    with duckdb.connect() as con:
        return con.execute(duckdb_features_sql(release_dir, last_data_year)).df()


APPROACHES: dict[str, Callable[[Path, int], pd.DataFrame]] = {
    "pandas": pandas_features,
    "duckdb": duckdb_features,
}


def run(approach: str, release_dir: Path, last_data_year: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Features, then the same StandardScaler + K-Means fit as the dbt Python model."""
    features = APPROACHES[approach](release_dir, last_data_year)
    columns, k, random_state = clustering_vars()
    result = fit_segments(features, columns, k=k, random_state=random_state)
    return features, result.assignments


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run one benchmark approach: features + K-Means.")
    parser.add_argument("approach", choices=sorted(APPROACHES))
    parser.add_argument("--release-dir", type=Path, required=True)
    parser.add_argument("--last-data-year", type=int, required=True)
    parser.add_argument("--features-out", type=Path, help="write features + cluster ids here (Parquet)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    features, assignments = run(args.approach, args.release_dir, args.last_data_year)
    if args.features_out is not None:
        out = features.merge(assignments[["subject_id", "cluster_id"]], on="subject_id", how="left")
        with duckdb.connect() as con:
            con.register("out_frame", out)
            con.execute(
                f"copy (select * from out_frame order by subject_id) to '{args.features_out}' "
                "(format parquet)"
            )
    print(f"{args.approach}: {len(features):,} patients in {time.perf_counter() - started:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
