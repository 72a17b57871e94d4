"""The two non-dbt ways of computing `patient_features` + K-Means that the benchmark times.

(b) ``pandas``: what a user would otherwise write in a notebook: pandas reads the release's
    gzipped CSVs (and the same reference code lists the project seeds), computes each feature
    with sort/groupby/merge, then scikit-learn clusters (StandardScaler + K-Means, through the
    project's ``fit_segments`` so that the fit is the same).
(c) ``duckdb``: the lower bound: one hand-written DuckDB query over the same files for the same
    features, then the same fit.

Both follow the definitions of the dbt models exactly (docs/*.md): utilization and length of
stay; the as-of date estimated per patient from the anchor year group and the release's last
data year; readmissions within 30 days counted over episodes of care (overlapping stays merged,
no readmission after an in-hospital death), the index stays and the median gap between them;
emergency admissions and ED visits; distinct (version, code) diagnoses; HCUP chronic
conditions and their coverage; the Charlson condition score (Quan 2005 codes, hierarchy: the
heaviest condition of each group counts) and index (plus age points); ICU stays and days;
in-hospital death, death within a year of the last discharge, any known death. The benchmark checks that
(a), (b) and (c) agree on every column for every patient before it times them.

Run one approach (the benchmark runs each in its own process to measure its peak memory)::

    python bench/approaches.py {pandas,duckdb} --release-dir DIR --last-data-year 2022 \\
        [--features-out features.parquet]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import yaml
from threadpoolctl import threadpool_limits

from mimic_segments.catalogue import features as features_catalogue
from mimic_segments.segmentation.clustering import fit_segments
from mimic_segments.segmentation.settings import N_INIT, parse_k
from mimic_segments.synthetic.fit import COLUMNS as MIMIC_COLUMNS

REPO_ROOT = Path(__file__).resolve().parents[1]
CHARLSON_CONDITIONS = REPO_ROOT / "seeds" / "charlson" / "charlson_conditions.csv"
CHARLSON_CODES = REPO_ROOT / "seeds" / "charlson" / "charlson_icd_codes.csv"
HCUP_INDICATORS = REPO_ROOT / "seeds" / "reference" / "hcup_chronic_condition_indicators.csv"

# The columns of marts.patient_features, in order.
FEATURE_COLUMNS = (
    "subject_id",
    "num_admissions",
    "avg_length_of_stay_days",
    "total_length_of_stay_days",
    "days_since_last_admission",
    "emergency_admission_share",
    "ed_visit_count",
    "early_readmissions",
    "readmission_index_stays",
    "readmission_rate",
    "median_days_between_admissions",
    "num_unique_icd_diagnoses",
    "charlson_comorbidity_index",
    "charlson_condition_score",
    "num_charlson_conditions",
    "num_chronic_conditions",
    "has_chronic_condition",
    "chronic_determination_coverage",
    "icu_stay_count",
    "total_icu_days",
    "in_hospital_death",
    "died_within_1y_of_last_discharge",
    "is_known_deceased",
    "gender",
    "age_at_last_admission",
    "age_bucket",
    "anchor_year_group",
    "estimated_as_of_date",
)


@dataclass(frozen=True)
class ProjectVars:
    cluster_features: list[str]
    cluster_log1p_features: list[str]
    cluster_k: int
    cluster_random_state: int
    emergency_admission_types: tuple[str, ...]
    clustering_population_min_admissions: int
    readmission_window_days: int


def project_vars() -> ProjectVars:
    """The vars of dbt_project.yml and the feature catalogue that the features and the fit
    depend on (one truth each).

    The benchmark compares the default segmentation: a fixed ``cluster_k`` and no demographic
    clustering inputs; other settings are refused rather than silently compared wrongly.
    """
    project = yaml.safe_load((REPO_ROOT / "dbt_project.yml").read_text())
    variables: dict[str, Any] = project["vars"]
    catalogue = features_catalogue.load_catalogue()
    k = parse_k(variables["cluster_k"])
    demographics = str(variables.get("cluster_include_demographics", False)).lower() in ("true", "1", "yes")
    if not isinstance(k, int) or demographics:
        raise ValueError("the benchmark needs an integer cluster_k and cluster_include_demographics: false")
    return ProjectVars(
        cluster_features=features_catalogue.clustered(catalogue),
        cluster_log1p_features=features_catalogue.log1p_clustered(catalogue),
        cluster_k=k,
        cluster_random_state=int(variables["cluster_random_state"]),
        emergency_admission_types=tuple(variables["emergency_admission_types"]),
        clustering_population_min_admissions=int(variables["clustering_population_min_admissions"]),
        readmission_window_days=int(variables["readmission_window_days"]),
    )


def _charlson_age_points(age: pd.Series) -> pd.Series:
    below = [(age < bound).fillna(False).to_numpy(dtype=bool) for bound in (50, 60, 70, 80)]
    points = np.select(below, [0, 1, 2, 3], default=4)
    return pd.Series(points, index=age.index).where(age.notna()).astype("Int64")


# --------------------------------------------------------------------------------------------
# (b) pandas
# --------------------------------------------------------------------------------------------


def _read_release(release_dir: Path) -> dict[str, pd.DataFrame]:
    hosp, icu = release_dir / "hosp", release_dir / "icu"
    timestamp = "%Y-%m-%d %H:%M:%S"
    return {
        "patients": pd.read_csv(
            hosp / "patients.csv.gz",
            usecols=["subject_id", "gender", "anchor_age", "anchor_year", "anchor_year_group", "dod"],
            dtype={"subject_id": "int64", "gender": "str", "anchor_age": "int64", "anchor_year": "int64"},
            parse_dates=["dod"],
            date_format="%Y-%m-%d",
        ),
        "admissions": pd.read_csv(
            hosp / "admissions.csv.gz",
            usecols=[
                "subject_id",
                "hadm_id",
                "admittime",
                "dischtime",
                "admission_type",
                "edregtime",
                "hospital_expire_flag",
            ],
            dtype={"subject_id": "int64", "hadm_id": "int64", "admission_type": "str"},
            parse_dates=["admittime", "dischtime", "edregtime"],
            date_format=timestamp,
        ),
        "diagnoses": pd.read_csv(
            hosp / "diagnoses_icd.csv.gz",
            usecols=["subject_id", "hadm_id", "icd_code", "icd_version"],
            dtype={"subject_id": "int64", "hadm_id": "int64", "icd_code": "str", "icd_version": "int64"},
        ),
        "icustays": pd.read_csv(
            icu / "icustays.csv.gz",
            usecols=["subject_id", "intime", "outtime", "los"],
            dtype={"subject_id": "int64", "los": "float64"},
            parse_dates=["intime", "outtime"],
            date_format=timestamp,
        ),
    }


def _pandas_admissions(
    admissions: pd.DataFrame, emergency_types: Sequence[str], window_days: int
) -> pd.DataFrame:
    """Per patient: utilization, readmissions over episodes of care, emergency/ED, deaths."""
    adm = admissions.sort_values(["subject_id", "admittime", "hadm_id"], kind="mergesort").reset_index(
        drop=True
    )
    adm["los_days"] = (adm["dischtime"] - adm["admittime"]).dt.total_seconds() / 86400.0
    adm["admit_year"] = adm["admittime"].dt.year
    adm["died"] = adm["hospital_expire_flag"] == 1
    by_patient = adm.groupby("subject_id", sort=False)
    # a stay that starts before an earlier stay of the patient ended continues that episode
    prior_latest_discharge = by_patient["dischtime"].cummax().groupby(adm["subject_id"], sort=False).shift(1)
    adm["overlap"] = (adm["admittime"] < prior_latest_discharge).to_numpy()
    adm["episode"] = (~adm["overlap"]).astype("int64").groupby(adm["subject_id"], sort=False).cumsum()
    ranked = adm.sort_values(["subject_id", "dischtime", "hadm_id"], ascending=[True, False, False])
    adm["discharge_rank"] = ranked.groupby("subject_id", sort=False).cumcount().reindex(adm.index) + 1

    episodes = (
        adm.groupby(["subject_id", "episode"], sort=True)
        .agg(
            episode_admit=("admittime", "min"),
            episode_discharge=("dischtime", "max"),
            episode_died=("died", "any"),
            last_rank=("discharge_rank", "min"),
        )
        .reset_index()
    )
    by_episode_patient = episodes.groupby("subject_id", sort=False)
    previous_discharge = by_episode_patient["episode_discharge"].shift(1)
    previous_died = by_episode_patient["episode_died"].shift(1)
    episodes["gap_days"] = (
        episodes["episode_admit"].dt.normalize() - previous_discharge.dt.normalize()
    ).dt.days
    episodes["readmit"] = (previous_died.eq(False) & (episodes["gap_days"] <= window_days)).to_numpy()
    episodes["next_readmit"] = (
        episodes.groupby("subject_id", sort=False)["readmit"].shift(-1).fillna(False).astype(bool)
    )

    adm = adm.merge(
        episodes[
            ["subject_id", "episode", "gap_days", "readmit", "episode_died", "last_rank", "next_readmit"]
        ],
        on=["subject_id", "episode"],
        how="left",
    )
    adm["gap_days_admission"] = adm["gap_days"].where(~adm["overlap"])
    adm["readmission"] = ~adm["overlap"] & adm["readmit"]
    adm["index_stay"] = (adm["discharge_rank"] == adm["last_rank"]) & ~adm["episode_died"]
    adm["followed"] = adm["index_stay"] & adm["next_readmit"]
    adm["emergency"] = adm["admission_type"].str.strip().str.upper().isin(list(emergency_types))
    adm["ed_visit"] = adm["edregtime"].notna()
    return adm.groupby("subject_id").agg(
        num_admissions=("los_days", "size"),
        total_length_of_stay_days=("los_days", "sum"),
        avg_length_of_stay_days=("los_days", "mean"),
        last_admitted_at=("admittime", "max"),
        last_discharged_at=("dischtime", "max"),
        last_admit_year=("admit_year", "max"),
        early_readmissions=("readmission", "sum"),
        readmission_index_stays=("index_stay", "sum"),
        index_stays_early_readmitted=("followed", "sum"),
        median_days_between_admissions=("gap_days_admission", "median"),
        emergency_admissions=("emergency", "sum"),
        ed_visit_count=("ed_visit", "sum"),
        hospital_deaths=("died", "sum"),
    )


def _pandas_charlson_matches(codes: pd.DataFrame) -> pd.DataFrame:
    """(icd_version, icd_code, condition) for every distinct code matching a Quan 2005 rule."""
    rules = pd.read_csv(CHARLSON_CODES, dtype=str, keep_default_na=False)
    rules["icd_version"] = rules["icd_version"].astype("int64")
    matches = []
    for length, group in rules.groupby(rules["code_from"].str.len()):
        prefixed = codes.assign(prefix=codes["icd_code"].str[:length])
        prefix_rules = group[group["match_type"] == "prefix"]
        matches.append(
            prefixed.merge(
                prefix_rules, left_on=["icd_version", "prefix"], right_on=["icd_version", "code_from"]
            )[["icd_version", "icd_code", "condition"]]
        )
        for rule in group[group["match_type"] == "range"].itertuples():
            hit = prefixed[
                (prefixed["icd_version"] == rule.icd_version)
                & (prefixed["prefix"] >= rule.code_from)
                & (prefixed["prefix"] <= rule.code_to)
            ]
            matches.append(hit[["icd_version", "icd_code"]].assign(condition=rule.condition))
    return pd.concat(matches, ignore_index=True).drop_duplicates()


def _pandas_diagnoses(diagnoses: pd.DataFrame) -> pd.DataFrame:
    """Per patient: distinct codes, HCUP chronic conditions and coverage, Charlson score."""
    dx = diagnoses.assign(icd_code=diagnoses["icd_code"].str.strip().str.upper())
    dx = dx.dropna(subset=["icd_code"])
    dx["code_key"] = dx["icd_version"].astype(str) + ":" + dx["icd_code"]
    hcup = pd.read_csv(
        HCUP_INDICATORS, dtype={"icd_version": "int64", "icd_code": "str", "chronic_status": "str"}
    )
    codes = dx[["icd_version", "icd_code"]].drop_duplicates()
    codes = codes.merge(
        hcup[["icd_version", "icd_code", "chronic_status"]], on=["icd_version", "icd_code"], how="left"
    )
    dx = dx.merge(codes, on=["icd_version", "icd_code"], how="left")
    dx["determined"] = dx["chronic_status"].isin(["chronic", "not_chronic"])
    per_patient = dx.groupby("subject_id").agg(
        num_diagnosis_rows=("code_key", "size"),
        num_unique_icd_diagnoses=("code_key", "nunique"),
        num_rows_with_chronic_determination=("determined", "sum"),
    )
    chronic = dx.loc[dx["chronic_status"] == "chronic"].groupby("subject_id")["code_key"].nunique()
    per_patient["num_chronic_conditions"] = chronic.reindex(per_patient.index).fillna(0).astype("int64")

    conditions = pd.read_csv(CHARLSON_CONDITIONS, dtype={"condition": "str", "weight": "int64"})
    matched = _pandas_charlson_matches(codes[["icd_version", "icd_code"]])
    patient_conditions = (
        dx[["subject_id", "icd_version", "icd_code"]]
        .drop_duplicates()
        .merge(matched, on=["icd_version", "icd_code"])[["subject_id", "condition"]]
        .drop_duplicates()
        .merge(conditions[["condition", "weight", "hierarchy_group"]], on="condition")
    )
    points = patient_conditions.groupby(["subject_id", "hierarchy_group"])["weight"].max()
    per_patient["charlson_condition_score"] = points.groupby(level="subject_id").sum()
    per_patient["num_charlson_conditions"] = patient_conditions.groupby("subject_id").size()
    return per_patient


def pandas_features(release_dir: Path, last_data_year: int) -> pd.DataFrame:
    variables = project_vars()
    tables = _read_release(release_dir)
    admissions = _pandas_admissions(
        tables["admissions"], variables.emergency_admission_types, variables.readmission_window_days
    )
    diagnoses = _pandas_diagnoses(tables["diagnoses"])
    icustays = tables["icustays"]
    icu_days = icustays["los"].fillna((icustays["outtime"] - icustays["intime"]).dt.total_seconds() / 86400.0)
    per_icu = (
        icustays.assign(icu_days=icu_days)
        .groupby("subject_id")
        .agg(icu_stay_count=("icu_days", "size"), total_icu_days=("icu_days", "sum"))
    )

    df = tables["patients"].merge(admissions, on="subject_id", how="left")
    df = df.merge(diagnoses, on="subject_id", how="left").merge(per_icu, on="subject_id", how="left")
    counts = (
        "num_admissions",
        "num_unique_icd_diagnoses",
        "num_chronic_conditions",
        "num_charlson_conditions",
        "charlson_condition_score",
        "early_readmissions",
        "readmission_index_stays",
        "emergency_admissions",
        "ed_visit_count",
        "hospital_deaths",
        "icu_stay_count",
    )
    for column in counts:
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
    df["charlson_comorbidity_index"] = df["charlson_condition_score"] + _charlson_age_points(age)
    df["has_chronic_condition"] = df["num_chronic_conditions"] > 0
    df["chronic_determination_coverage"] = (
        df["num_rows_with_chronic_determination"] / df["num_diagnosis_rows"]
    )
    df["readmission_rate"] = df["index_stays_early_readmitted"] / df["readmission_index_stays"].replace(
        0, np.nan
    )
    df["emergency_admission_share"] = (
        df["emergency_admissions"] / df["num_admissions"].replace(0, np.nan)
    ).fillna(0.0)
    df["in_hospital_death"] = df["hospital_deaths"] > 0
    days_to_death = (df["dod"] - df["last_discharged_at"].dt.normalize()).dt.days
    died_within = days_to_death.between(0, 365).fillna(False)
    df["died_within_1y_of_last_discharge"] = died_within.astype("boolean").where(
        df["last_discharged_at"].notna()
    )
    df["is_known_deceased"] = df["dod"].notna() | (df["hospital_deaths"] > 0)
    df["age_bucket"] = np.select(
        [age.isna().to_numpy(), (age < 45).fillna(False), (age < 65).fillna(False), (age < 80).fillna(False)],
        ["Unknown", "18-44", "45-64", "65-79"],
        default="80+",
    )
    return df.loc[:, list(FEATURE_COLUMNS)]


# --------------------------------------------------------------------------------------------
# (c) one DuckDB query
# --------------------------------------------------------------------------------------------

# The MIMIC tables' explicit types are the generator's (one definition); the reference tables'
# are the seeds'.
_COLUMNS = {
    **MIMIC_COLUMNS,
    "charlson_conditions": "{'condition_order': 'INTEGER', 'condition': 'VARCHAR', "
    "'condition_name': 'VARCHAR', "
    "'weight': 'INTEGER', 'hierarchy_group': 'VARCHAR'}",
    "charlson_icd_codes": "{'condition': 'VARCHAR', 'icd_version': 'INTEGER', 'match_type': 'VARCHAR', "
    "'code_from': 'VARCHAR', 'code_to': 'VARCHAR'}",
    "hcup_chronic_condition_indicators": "{'icd_version': 'INTEGER', 'icd_code': 'VARCHAR', "
    "'chronic_status': 'VARCHAR', 'body_system': 'INTEGER'}",
}


def _read(path: Path, columns: str) -> str:
    return f"read_csv('{path}', header = true, auto_detect = false, columns = {columns})"  # explicit types


def duckdb_features_sql(release_dir: Path, last_data_year: int) -> str:
    def release(module: str, table: str) -> str:
        return _read(release_dir / module / f"{table}.csv.gz", _COLUMNS[table])

    variables = project_vars()
    emergency = ", ".join(f"'{t}'" for t in variables.emergency_admission_types)
    window_days = variables.readmission_window_days
    return f"""
with
admissions as (
    select
        subject_id, hadm_id, admittime, dischtime, edregtime,
        hospital_expire_flag = 1 as died,
        upper(trim(admission_type)) in ({emergency}) as emergency,
        epoch(dischtime - admittime) / 86400.0 as los_days,
        -- episodes of care: a stay that starts before an earlier one ended continues it
        coalesce(admittime < max(dischtime) over (
            partition by subject_id order by admittime, hadm_id
            rows between unbounded preceding and 1 preceding), false) as overlap,
        row_number() over (partition by subject_id order by dischtime desc, hadm_id desc) as discharge_rank
    from {release("hosp", "admissions")}
),
numbered as (
    select *, sum(case when overlap then 0 else 1 end) over (
        partition by subject_id order by admittime, hadm_id rows between unbounded preceding and current row
    ) as episode
    from admissions
),
episodes as (
    select subject_id, episode, min(admittime) as episode_admit, max(dischtime) as episode_discharge,
        bool_or(died) as episode_died, min(discharge_rank) as last_rank
    from numbered
    group by subject_id, episode
),
episode_gaps as (
    select *,
        date_diff('day', cast(lag(episode_discharge) over w as date), cast(episode_admit as date))
            as gap_days,
        lag(episode_died) over w as previous_died
    from episodes
    window w as (partition by subject_id order by episode)
),
episode_readmissions as (
    select *, coalesce(not previous_died and gap_days <= {window_days}, false) as readmit
    from episode_gaps
),
episode_flags as (
    select *, coalesce(lead(readmit) over (partition by subject_id order by episode), false) as next_readmit
    from episode_readmissions
),
per_admission as (
    select
        n.subject_id, n.admittime, n.dischtime, n.los_days, n.died, n.emergency,
        n.edregtime is not null as ed_visit,
        case when not n.overlap then e.gap_days end as gap_days,
        not n.overlap and e.readmit as readmission,
        n.discharge_rank = e.last_rank and not e.episode_died as index_stay,
        n.discharge_rank = e.last_rank and not e.episode_died and e.next_readmit as followed
    from numbered n
    join episode_flags e using (subject_id, episode)
),
admission_features as (
    select
        subject_id,
        count(*) as num_admissions,
        sum(los_days) as total_los,
        avg(los_days) as avg_los,
        max(admittime) as last_admitted_at,
        max(dischtime) as last_discharged_at,
        max(year(admittime)) as last_admit_year,
        sum(readmission::int) as early_readmissions,
        sum(index_stay::int) as readmission_index_stays,
        sum(followed::int) as index_stays_early_readmitted,
        median(gap_days) as median_days_between_admissions,
        sum(emergency::int) as emergency_admissions,
        sum(ed_visit::int) as ed_visit_count,
        sum(died::int) as hospital_deaths
    from per_admission
    group by subject_id
),
diagnoses as (
    select subject_id, hadm_id, icd_version, upper(trim(icd_code)) as icd_code
    from {release("hosp", "diagnoses_icd")}
),
codes as (
    select distinct d.icd_version, d.icd_code, h.chronic_status
    from diagnoses d
    left join {_read(HCUP_INDICATORS, _COLUMNS["hcup_chronic_condition_indicators"])} h
        using (icd_version, icd_code)
),
charlson_matches as (
    select distinct c.icd_version, c.icd_code, r.condition
    from codes c
    join {_read(CHARLSON_CODES, _COLUMNS["charlson_icd_codes"])} r
        on c.icd_version = r.icd_version
        and (
            (r.match_type = 'prefix' and starts_with(c.icd_code, r.code_from))
            or (r.match_type = 'range'
                and substr(c.icd_code, 1, length(r.code_from)) between r.code_from and r.code_to)
        )
),
diagnosis_features as (
    select
        d.subject_id,
        count(*) as num_diagnosis_rows,
        count(distinct d.icd_version::varchar || ':' || d.icd_code) as num_unique_icd_diagnoses,
        count(distinct case when c.chronic_status = 'chronic'
            then d.icd_version::varchar || ':' || d.icd_code end)
            as num_chronic_conditions,
        sum(case when c.chronic_status in ('chronic', 'not_chronic') then 1 else 0 end)
            as num_rows_with_chronic_determination
    from diagnoses d
    left join codes c on d.icd_version = c.icd_version and d.icd_code = c.icd_code
    group by d.subject_id
),
patient_conditions as (
    select distinct d.subject_id, m.condition, k.weight, k.hierarchy_group
    from diagnoses d
    join charlson_matches m using (icd_version, icd_code)
    join {_read(CHARLSON_CONDITIONS, _COLUMNS["charlson_conditions"])} k using (condition)
),
charlson_features as (
    -- the heaviest condition of each hierarchy group counts (e.g. metastatic over any malignancy)
    select subject_id, sum(conditions) as num_charlson_conditions, sum(points) as charlson_condition_score
    from (
        select subject_id, hierarchy_group, max(weight) as points, count(*) as conditions
        from patient_conditions
        group by subject_id, hierarchy_group
    ) as group_points
    group by subject_id
),
icu_features as (
    select subject_id, count(*) as icu_stay_count,
        sum(coalesce(los, epoch(outtime - intime) / 86400.0)) as total_icu_days
    from {release("icu", "icustays")}
    group by subject_id
),
patients as (
    select
        subject_id,
        case upper(trim(gender)) when 'F' then 'F' when 'M' then 'M' else 'Unknown' end as gender,
        anchor_age,
        anchor_year,
        coalesce(nullif(trim(anchor_year_group), ''), 'Unknown') as anchor_year_group,
        try_cast(trim(split_part(anchor_year_group, '-', 1)) as integer) as group_start,
        dod
    from {release("hosp", "patients")}
),
joined as (
    select
        p.*,
        a.* exclude (subject_id),
        d.* exclude (subject_id),
        c.* exclude (subject_id),
        i.* exclude (subject_id),
        -- the as-of estimate of int_patients_as_of_estimated: the midpoint of the anchor
        -- group, or the smallest shift the last admission allows if that is larger
        case
            when a.last_admit_year - {last_data_year} > p.anchor_year - (p.group_start + 1)
                then a.last_admit_year - {last_data_year}
            else p.anchor_year - (p.group_start + 1)
        end as year_shift,
        p.anchor_age + a.last_admit_year - p.anchor_year as age_at_last_admission
    from patients p
    left join admission_features a using (subject_id)
    left join diagnosis_features d using (subject_id)
    left join charlson_features c using (subject_id)
    left join icu_features i using (subject_id)
)
select
    subject_id,
    coalesce(num_admissions, 0) as num_admissions,
    coalesce(avg_los, 0) as avg_length_of_stay_days,
    coalesce(total_los, 0) as total_length_of_stay_days,
    date_diff('day', cast(last_admitted_at as date), make_date({last_data_year} + year_shift, 12, 31))
        as days_since_last_admission,
    coalesce(emergency_admissions / nullif(num_admissions, 0), 0) as emergency_admission_share,
    coalesce(ed_visit_count, 0) as ed_visit_count,
    coalesce(early_readmissions, 0) as early_readmissions,
    coalesce(readmission_index_stays, 0) as readmission_index_stays,
    index_stays_early_readmitted / nullif(readmission_index_stays, 0) as readmission_rate,
    median_days_between_admissions,
    coalesce(num_unique_icd_diagnoses, 0) as num_unique_icd_diagnoses,
    coalesce(charlson_condition_score, 0) + case
        when age_at_last_admission is null then null
        when age_at_last_admission < 50 then 0
        when age_at_last_admission < 60 then 1
        when age_at_last_admission < 70 then 2
        when age_at_last_admission < 80 then 3
        else 4
    end as charlson_comorbidity_index,
    coalesce(charlson_condition_score, 0) as charlson_condition_score,
    coalesce(num_charlson_conditions, 0) as num_charlson_conditions,
    coalesce(num_chronic_conditions, 0) as num_chronic_conditions,
    coalesce(num_chronic_conditions, 0) > 0 as has_chronic_condition,
    num_rows_with_chronic_determination / nullif(num_diagnosis_rows, 0) as chronic_determination_coverage,
    coalesce(icu_stay_count, 0) as icu_stay_count,
    coalesce(total_icu_days, 0) as total_icu_days,
    coalesce(hospital_deaths, 0) > 0 as in_hospital_death,
    case
        when last_discharged_at is null then null
        else coalesce(date_diff('day', cast(last_discharged_at as date), dod) between 0 and 365, false)
    end as died_within_1y_of_last_discharge,
    dod is not null or coalesce(hospital_deaths, 0) > 0 as is_known_deceased,
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


# The DuckDB memory limit the dbt profile reads (profiles.yml): (c) runs under the same one.
MEMORY_LIMIT_ENV = "MIMIC_SEGMENTS_DUCKDB_MEMORY_LIMIT"
# Where (c) spills when it passes the limit (an in-memory database's default is ./.tmp).
TEMP_DIRECTORY_ENV = "MIMIC_SEGMENTS_BENCH_DUCKDB_TEMP_DIR"


def duckdb_features(release_dir: Path, last_data_year: int) -> pd.DataFrame:
    settings = {"memory_limit": MEMORY_LIMIT_ENV, "temp_directory": TEMP_DIRECTORY_ENV}
    config = {name: os.environ[env] for name, env in settings.items() if os.environ.get(env)}
    with duckdb.connect(config=config) as con:
        con.execute("set enable_progress_bar = false")
        return con.execute(duckdb_features_sql(release_dir, last_data_year)).df()


APPROACHES: dict[str, Callable[[Path, int], pd.DataFrame]] = {
    "pandas": pandas_features,
    "duckdb": duckdb_features,
}


def run(approach: str, release_dir: Path, last_data_year: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Features, then the same fit as the dbt model ``segment_centroids``.

    Same population (patients with at least ``clustering_population_min_admissions``
    admissions; the others are not clustered), inputs (``cluster_features``, ``log1p`` on
    ``cluster_log1p_features``), k, seed and initialisations, and like it single-threaded
    (sklearn's result does not depend on threads).
    """
    features = APPROACHES[approach](release_dir, last_data_year)
    variables = project_vars()
    lacking = [f for f in variables.cluster_features if f not in features.columns]
    if lacking:
        raise SystemExit(
            f"the feature catalogue clusters {lacking}, which the {approach} approach does not compute: "
            "add it to FEATURE_COLUMNS and to both approaches in bench/approaches.py"
        )
    admitted = features[features["num_admissions"] >= variables.clustering_population_min_admissions]
    with threadpool_limits(limits=1):
        result = fit_segments(
            admitted,
            variables.cluster_features,
            k=variables.cluster_k,
            random_state=variables.cluster_random_state,
            n_init=N_INIT,
            log1p_features=variables.cluster_log1p_features,
        )
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
