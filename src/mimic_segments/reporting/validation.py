"""The validation report: the population rule, the persona fits and the return curves, measured.

``make validation-report`` builds the project twice, on a generated full-size MIMIC-IV
release (364,627 patients shaped like release 3.1, so 38.7 % of them never admitted) and on the
100-patient demo, then writes ``docs/validation.md`` from the two databases. Every number in
it is read from the marts by this module; nothing is typed by hand. What it shows, per
database: the population (registry, admitted, never admitted), the segments with their sizes,
shares and persona fits (weak matches flagged), the checks that no clustered segment holds a
never-admitted patient and that the counts reconcile, silhouette and stability per k on the
clustering population with the k the ``auto`` rule picks, each segment's patients by number
of admissions, the return-to-hospital curves (``segment_return_curves``): per segment the
cumulative incidence of return at 30, 90, 180 and 365 days with its interval, how the curves
move with the end-of-data assumption, and their largest difference from statsmodels'
independent estimates (``mimic_segments.reporting.return_curves``); and the prospective test:
both datasets built again in index mode (var ``feature_index: first_year``), the segments
assigned at the index against the next year's outcomes, next to the no-model baseline
(``mimic_segments.reporting.prospective``).

Usage::

    python -m mimic_segments.reporting.validation [--patients 364627] [--seed 42] [--out docs/validation.md]
    python -m mimic_segments.reporting.validation --render-only --release-db A.duckdb --demo-db B.duckdb \
        [--release-prospective-db C.duckdb --demo-prospective-db D.duckdb]

The generated data proves the machinery (who is clustered, that counts reconcile, that fits are
reported honestly), not clinical truth: its codes are drawn independently of each other.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from mimic_segments import PROJECT_ROOT
from mimic_segments.provenance import git_commit
from mimic_segments.reporting import discrimination, prospective, return_curves
from mimic_segments.synthetic.generator import RELEASES, generate_release

REPO_ROOT = PROJECT_ROOT
DEFAULT_OUT = REPO_ROOT / "docs" / "validation.md"
DEFAULT_WORK = REPO_ROOT / "data" / "validation"
DBT = Path(sys.executable).with_name("dbt")

# Admissions per patient, bucketed for the "patients by number of admissions" table.
ADMISSION_BUCKETS = (("0", 0, 0), ("1", 1, 1), ("2", 2, 2), ("3-4", 3, 4), ("5-9", 5, 9), ("10+", 10, None))


class ValidationError(RuntimeError):
    """A build or a check behind the report failed; the message says which."""


@dataclass(frozen=True)
class Findings:
    """What the report says about one built database."""

    label: str
    population: dict[str, int]
    segments: pd.DataFrame
    never_admitted_in_clusters: int
    registry_rows: int
    diagnostics: pd.DataFrame
    admissions: pd.DataFrame
    min_match_score: float
    # the return curves: milestones per assumption and segment, censoring per assumption, and
    # the mart next to statsmodels
    curve_milestones: pd.DataFrame
    censoring: pd.DataFrame
    curve_check: return_curves.Comparison
    # the prospective validation: segment_prospective_outcomes of the same data built in index
    # mode (var feature_index: first_year), when that build was made
    prospective: pd.DataFrame | None = None
    # segment_prospective_comparison of that build: the four groupings side by side
    comparison: pd.DataFrame | None = None
    # per readmission mode (var readmission_definition): index discharges and those followed by
    # an early readmission, whole-history mode; the other mode from its own build, when made
    readmissions: dict[str, tuple[int, int]] = field(default_factory=dict)


# the readmission modes (var readmission_definition), the project's default first
READMISSION_MODES = ("inpatient", "all_stays")


def read_readmissions(db: duckdb.DuckDBPyConnection) -> tuple[int, int]:
    """Index discharges (counted episodes left alive) and those followed by an early readmission,
    over the whole release (int_episodes_flagged_for_readmission, docs block readmission_rate)."""
    row = db.execute(
        "select count(*) filter (where is_index_episode),"
        " count(*) filter (where is_followed_by_early_readmission)"
        " from intermediate.int_episodes_flagged_for_readmission"
    ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def collect(
    db_path: Path,
    label: str,
    prospective_db: Path | None = None,
    other_readmission_mode_db: Path | None = None,
) -> Findings:
    """Read the findings from a built database (read-only, as a BI tool would), the prospective
    outcomes and comparison from its index-mode build when there is one, and the early
    readmissions of the other readmission mode from its build when there is one."""
    readmissions = {}
    if other_readmission_mode_db is not None:
        with duckdb.connect(str(other_readmission_mode_db), read_only=True) as db:
            readmissions[READMISSION_MODES[1]] = read_readmissions(db)
    with duckdb.connect(str(db_path), read_only=True) as db:
        readmissions = {READMISSION_MODES[0]: read_readmissions(db), **readmissions}
        registry, admitted, never = db.execute(
            "select count(*), count(*) filter (where num_admissions > 0),"
            " count(*) filter (where num_admissions = 0) from segmentation.patient_features"
        ).fetchone()
        segments = db.execute(
            "select segment_key, segment_kind, segment_name, catalogue_persona_name, num_patients,"
            " share_of_registry, share_of_clustered_population, persona_match_score,"
            " runner_up_persona_name, persona_match_margin, is_weak_persona_match"
            " from marts.segments order by segment_kind, cluster_id, segment_key"
        ).df()
        # a clustered segment must never hold a patient without an admission
        never_in_clusters = db.execute(
            "select count(*) from marts.patient_segments s join segmentation.patient_features f "
            "using (subject_id)"
            " where s.segment_kind = 'clustered' and f.num_admissions = 0"
        ).fetchone()[0]
        registry_rows = db.execute("select count(*) from marts.patient_segments").fetchone()[0]
        threshold = db.execute(
            "select distinct persona_min_match_score from segmentation.segment_personas"
        ).fetchall()
        diagnostics = db.execute(
            "select k, fit_sample_size, silhouette, stability_mean_ari, smallest_cluster_share,"
            " is_eligible, is_auto_choice, is_chosen from segmentation.segmentation_diagnostics order by k"
        ).df()
        # the bucket's position orders the columns; its name labels them
        cases = " ".join(
            f"when f.num_admissions >= {low}"
            + (f" and f.num_admissions <= {high}" if high is not None else "")
            + f" then {position}"
            for position, (_, low, high) in enumerate(ADMISSION_BUCKETS)
        )
        counts = db.execute(
            "select segment_key, bucket, count(*) as patients from ("
            f" select s.segment_key, case {cases} end as bucket"
            " from marts.patient_segments s join segmentation.patient_features f using (subject_id)"
            ") as bucketed group by segment_key, bucket order by segment_key, bucket"
        ).df()
        names = [name for name, _, _ in ADMISSION_BUCKETS]
        admissions = counts.assign(admissions=[names[int(b)] for b in counts["bucket"]])[
            ["segment_key", "admissions", "patients"]
        ]
        curve_milestones = return_curves.milestones(return_curves.read_curves(db))
        censoring = db.execute(
            "select end_of_data_assumption, outcome, coalesce(censored_by, '') as censored_by,"
            f" count(*) as patients from {return_curves.FOLLOW_UP} group by all order by all"
        ).df()
        curve_check = return_curves.compare_with_statsmodels(db)
    return Findings(
        label=label,
        population={"registry": registry, "admitted": admitted, "never_admitted": never},
        segments=segments,
        never_admitted_in_clusters=int(never_in_clusters),
        registry_rows=int(registry_rows),
        diagnostics=diagnostics,
        admissions=admissions,
        min_match_score=float(threshold[0][0]),
        curve_milestones=curve_milestones,
        censoring=censoring,
        curve_check=curve_check,
        prospective=read_prospective(prospective_db) if prospective_db else None,
        comparison=read_comparison(prospective_db) if prospective_db else None,
        readmissions=readmissions,
    )


def read_prospective(db_path: Path) -> pd.DataFrame:
    """``segment_prospective_outcomes`` of an index-mode build."""
    with duckdb.connect(str(db_path), read_only=True) as db:
        return prospective.read_outcomes(db)


def read_comparison(db_path: Path) -> pd.DataFrame | None:
    """``segment_prospective_comparison`` of an index-mode build (None if it has none)."""
    with duckdb.connect(str(db_path), read_only=True) as db:
        present = db.execute(
            "select count(*) from information_schema.tables"
            " where table_schema = 'marts' and table_name = 'segment_prospective_comparison'"
        ).fetchone()
        if not present or not present[0]:
            return None
        return db.execute("select * from marts.segment_prospective_comparison").df()


def _number(value: object, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NA:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int) or (isinstance(value, float) and float(value).is_integer() and digits == 0):
        return f"{int(value):,}"
    return f"{float(value):.{digits}f}"


def _share(value: object) -> str:
    if value is None or pd.isna(value):
        return "-"
    return f"{100 * float(value):.1f} %"


def _estimate(value: object, lower: object, upper: object) -> str:
    """'1.23 (0.98 to 1.48)': an estimate and its interval, two decimals."""
    return f"{_number(value, 2)} ({_number(lower, 2)} to {_number(upper, 2)})"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def render_findings(findings: Findings) -> list[str]:
    """The markdown section of one database."""
    p = findings.population
    registry = p["registry"]
    segments = findings.segments
    clustered = segments[segments["segment_kind"] == "clustered"]
    lines = [f"## {findings.label}", "", "### Population", ""]
    lines += _table(
        ["patients", "number", "share of the registry"],
        [
            ["registry (`hosp.patients`)", f"{registry:,}", "100.0 %"],
            ["admitted: the clustering population", f"{p['admitted']:,}", _share(p["admitted"] / registry)],
            [
                "never admitted: rule-defined segment",
                f"{p['never_admitted']:,}",
                _share(p["never_admitted"] / registry),
            ],
        ],
    )
    sizes_sum = int(segments["num_patients"].sum())
    clustered_sum = int(clustered["num_patients"].sum())
    lines += [
        "",
        "### Checks",
        "",
        *_table(
            ["check", "result"],
            [
                [
                    "never-admitted patients in a clustered segment",
                    f"{findings.never_admitted_in_clusters:,}",
                ],
                [
                    "rows of `patient_segments` = registry patients",
                    f"{findings.registry_rows:,} = {registry:,}",
                ],
                ["segment sizes sum to the registry", f"{sizes_sum:,} = {registry:,}"],
                ["clustered segment sizes sum to the admitted", f"{clustered_sum:,} = {p['admitted']:,}"],
            ],
        ),
        "",
        "### Segments",
        "",
        f"Fit: cosine similarity of the segment's standardized centroid with its persona's signature "
        "(-1 to 1); weak below var `persona_min_match_score` = "
        f"{findings.min_match_score}. Margin: fit minus "
        "the runner-up persona's.",
        "",
    ]
    rows = []
    for s in segments.itertuples():
        rows.append(
            [
                f"`{s.segment_key}`",
                s.segment_kind,
                s.segment_name,
                f"{int(s.num_patients):,}",
                _share(s.share_of_registry),
                _share(s.share_of_clustered_population),
                _number(s.persona_match_score),
                "-"
                if s.runner_up_persona_name is None or pd.isna(s.runner_up_persona_name)
                else s.runner_up_persona_name,
                _number(s.persona_match_margin),
                "-"
                if pd.isna(s.is_weak_persona_match)
                else ("**weak**" if s.is_weak_persona_match else "no"),
            ]
        )
    lines += _table(
        [
            "segment",
            "kind",
            "persona",
            "patients",
            "of registry",
            "of admitted",
            "fit",
            "runner-up",
            "margin",
            "weak",
        ],
        rows,
    )
    d = findings.diagnostics
    auto = d.loc[d["is_auto_choice"], "k"].tolist()
    chosen = d.loc[d["is_chosen"], "k"].tolist()
    lines += [
        "",
        "### Choosing k on the clustering population",
        "",
        f"Fitted on {int(d['fit_sample_size'].iloc[0]):,} admitted patients per k. The `auto` rule picks "
        f"k = {auto[0] if auto else '-'}; the build used k = {chosen[0] if chosen else '-'}.",
        "",
    ]
    lines += _table(
        ["k", "silhouette", "stability (mean ARI)", "smallest segment", "eligible", "auto choice"],
        [
            [
                str(int(r.k)),
                _number(r.silhouette),
                _number(r.stability_mean_ari),
                _share(r.smallest_cluster_share),
                _number(bool(r.is_eligible)),
                "**yes**" if r.is_auto_choice else "",
            ]
            for r in d.itertuples()
        ],
    )
    buckets = [name for name, _, _ in ADMISSION_BUCKETS]
    pivot = findings.admissions.pivot(index="segment_key", columns="admissions", values="patients")
    pivot = pivot.reindex(columns=buckets).reindex(segments["segment_key"]).fillna(0).astype("int64")
    lines += ["", "### Patients by number of admissions", ""]
    lines += _table(
        ["segment", *(f"{b} adm." for b in buckets)],
        [
            [f"`{key}`", *(f"{v:,}" for v in row)]
            for key, row in zip(pivot.index, pivot.to_numpy(), strict=True)
        ],
    )
    return [
        *lines,
        *render_ed_use_segments(findings),
        *render_readmissions(findings.readmissions),
        *render_return_curves(findings),
        *render_prospective(findings.prospective),
        *render_comparison(findings.comparison),
        "",
    ]


def render_ed_use_segments(findings: Findings) -> list[str]:
    """The rule-defined segments of the never-admitted, by their emergency department use (docs
    block ed_use_segments), with their sizes: read from marts.segments."""
    segments = findings.segments
    rules = segments[segments["segment_kind"] != "clustered"]
    never = findings.population["never_admitted"]
    if rules.empty:
        return [
            "",
            "### The rule-defined segments: emergency department use of the never-admitted",
            "",
            f"Every one of the {findings.population['registry']:,} registry patients was admitted "
            f"({never:,} never admitted): the ED-use segments (`frequent_ed_use_never_admitted`, "
            "`occasional_ed_use_never_admitted`, `no_hospital_or_ed_encounter`) hold no patient.",
        ]
    ed_users = rules[rules["segment_key"].str.contains("_ed_use_")]
    ed_total = int(ed_users["num_patients"].sum())
    lines = [
        "",
        "### The rule-defined segments: emergency department use of the never-admitted",
        "",
        f"Of the {never:,} never-admitted patients, {ed_total:,} "
        f"({_share(ed_total / never if never else None)}) "
        "have an emergency department visit in `hosp.transfers`; frequent use is at least var "
        "`frequent_ed_visits_per_year` (4) visits within some 365 days (docs block `ed_use_segments`).",
        "",
    ]
    lines += _table(
        ["segment", "persona", "patients", "of registry", "of the never-admitted"],
        [
            [
                f"`{r.segment_key}`",
                r.segment_name,
                f"{int(r.num_patients):,}",
                _share(r.share_of_registry),
                _share(r.num_patients / never) if never else "-",
            ]
            for r in rules.itertuples()
        ],
    )
    return lines


def render_readmissions(readmissions: dict[str, tuple[int, int]]) -> list[str]:
    """The early-readmission rate under each readmission mode (var readmission_definition)."""
    if not readmissions:
        return []
    lines = [
        "",
        "### Early readmissions under each readmission definition",
        "",
        "Index discharges (counted hospital episodes left alive) and those followed by an early "
        "readmission (an unplanned counted episode within var `readmission_window_days`, 30 days), over "
        "the whole release (`int_episodes_flagged_for_readmission`; docs blocks `readmission_definition` "
        "and `readmission_rate`). `inpatient` (the default) counts inpatient stays only and sets planned "
        "readmissions aside; `all_stays` counts every stay, observation stays included.",
        "",
    ]
    lines += _table(
        ["var `readmission_definition`", "index discharges", "early readmissions", "rate"],
        [
            [f"`{mode}`", f"{index:,}", f"{early:,}", _share(early / index if index else None)]
            for mode, (index, early) in readmissions.items()
        ],
    )
    if len(readmissions) == 2:
        (_, (i1, e1)), (_, (i2, e2)) = readmissions.items()
        if i1 and i2:
            lines += [
                "",
                f"Counting every stay changes the rate by {100 * (e2 / i2 - e1 / i1):+.1f} percentage points "
                f"({_share(e1 / i1)} to {_share(e2 / i2)}).",
            ]
    return lines


def render_comparison(comparison: pd.DataFrame | None) -> list[str]:
    """The four groupings compared (segment_prospective_comparison): per outcome and grouping the
    concentration index and, for the binary outcomes, the AUC with its interval; then which
    grouping does best, in sentences computed from the table."""
    if comparison is None or comparison.empty:
        return []
    nested = comparison[comparison["grouping"] == "segment_lace_band"]
    resamples = comparison["bootstrap_resamples"].dropna()
    seeds = comparison["bootstrap_seed"].dropna()
    lines = [
        "",
        "#### Segments, LACE, segment with LACE and prior admissions compared",
        "",
        "The same followed-up patients and outcomes, grouped four ways at the index (docs block "
        "`prospective_comparison`): the segments; the bands of LACE at the index (the score of the last "
        "index discharge by then; `none` without one); each segment split by LACE band; prior-year "
        "admissions. Concentration index as above, for every outcome; for the binary outcomes, the "
        "C-statistic (AUC, scikit-learn's `roc_auc_score`) of each grouping's ordinal score, fixed in "
        "advance (minus the segment's outreach priority; the LACE total, -1 without one; priority, then "
        "LACE within it; the prior-year admission count), with the 2.5th-97.5th percentiles of "
        f"{int(resamples.iloc[0]) if len(resamples) else 0:,} "
        "stratified bootstrap resamples (seed "
        f"{int(seeds.iloc[0]) if len(seeds) else 0}). "
        "Bold: the best of the outcome. The concentration index ranks each grouping's groups by their "
        "observed mean outcome, so it favours a grouping with more groups (segment with LACE band: "
        f"{int(nested['num_groups'].max()) if not nested.empty else 0} "
        "groups); the AUC's scores are fixed before the outcome is seen.",
        "",
    ]

    def bold(text: str, flag: object) -> str:
        return f"**{text}**" if bool(flag) else text

    lines += _table(
        [
            "next-year outcome",
            "grouping",
            "groups",
            "concentration index",
            "patients with it",
            "AUC (95 % interval)",
        ],
        [
            [
                str(r.outcome_label),
                str(r.grouping_label),
                f"{int(r.num_groups):,}",
                bold(_number(r.concentration_index), r.is_best_concentration),
                "-" if pd.isna(r.num_positive) else f"{int(r.num_positive):,}",
                "-"
                if pd.isna(r.auc)
                else bold(
                    f"{_number(r.auc)} ({_number(r.auc_ci_lower)} to {_number(r.auc_ci_upper)})",
                    r.is_best_auc,
                ),
            ]
            for r in comparison.itertuples()
        ],
    )
    lines += ["", *(f"- {sentence}" for sentence in discrimination.verdict_sentences(comparison))]
    return lines


def render_return_curves(findings: Findings) -> list[str]:
    """The markdown of the return curves of one database."""
    milestones = findings.curve_milestones
    days = return_curves.MILESTONE_DAYS
    primary = milestones[milestones["end_of_data_assumption"] == return_curves.PRIMARY_ASSUMPTION]
    order = [*findings.segments["segment_key"], return_curves.OVERALL]
    primary = primary.set_index("segment_key").reindex([k for k in order if k in set(primary["segment_key"])])
    check = findings.curve_check
    lines = [
        "",
        "### Return to hospital after the first discharge alive",
        "",
        "One index per patient (the discharge closing the first hospital episode that ended alive), "
        "followed to day 365; death before a return is a competing event; censored at the earliest end "
        "of data the anchor year group allows (docs block `return_curves`). Cumulative incidence of "
        "return (Aalen-Johansen) with its 95 % log(-log) interval; 1 - Kaplan-Meier with deaths censored "
        "beside it at day 365.",
        "",
    ]

    def interval(row: pd.Series, day: int) -> str:
        return (
            f"{_share(row[f'cumulative_incidence_return_{day}'])} "
            f"({_share(row[f'cumulative_incidence_return_lower_{day}'])} to "
            f"{_share(row[f'cumulative_incidence_return_upper_{day}'])})"
        )

    lines += _table(
        [
            "segment",
            "indexed",
            "returned",
            "died first",
            "censored",
            *(f"by day {day}" for day in days),
            "1 - KM, day 365",
            "death, day 365",
        ],
        [
            [
                f"`{key}`",
                f"{int(row['num_patients_indexed']):,}",
                f"{int(row['returned']):,}",
                f"{int(row['died']):,}",
                f"{int(row['censored']):,}",
                *(interval(row, day) for day in days),
                _share(row[f"km_return_probability_death_censored_{days[-1]}"]),
                _share(row[f"cumulative_incidence_death_{days[-1]}"]),
            ]
            for key, row in primary.iterrows()
        ],
    )
    overall = milestones[milestones["segment_key"] == return_curves.OVERALL].set_index(
        "end_of_data_assumption"
    )
    censoring = findings.censoring

    def count(assumption: str, outcome: str, censored_by: str = "") -> str:
        rows = censoring[
            (censoring["end_of_data_assumption"] == assumption)
            & (censoring["outcome"] == outcome)
            & (censoring["censored_by"] == censored_by)
        ]
        return f"{int(rows['patients'].sum()):,}"

    lines += [
        "",
        "How the curve of all patients moves with the end-of-data assumption:",
        "",
        *_table(
            [
                "end of data",
                "followed",
                "not followed",
                "censored by the end of data",
                "returned",
                "died first",
                "by day 365",
            ],
            [
                [
                    f"`{assumption}`",
                    f"{int(overall.loc[assumption, 'num_patients_indexed']):,}",
                    count(assumption, "not_followed"),
                    count(assumption, "censored", "end_of_data"),
                    f"{int(overall.loc[assumption, 'returned']):,}",
                    f"{int(overall.loc[assumption, 'died']):,}",
                    _share(overall.loc[assumption, f"cumulative_incidence_return_{days[-1]}"]),
                ]
                for assumption in return_curves.ASSUMPTIONS
                if assumption in overall.index
            ],
        ),
        "",
        f"Against statsmodels 0.15 (`SurvfuncRight`, `CumIncidenceRight`, recomputed from "
        f"`int_patients_followed_for_return`): {check.curves} curves x {check.rows // max(check.curves, 1)} "
        f"days; largest absolute difference of any estimate, standard error or bound "
        f"{check.largest:.1e}; counts that differ: {sum(check.count_mismatches.values())}; "
        f"NULL where the other is not: {sum(check.null_mismatches.values())} "
        f"({'**agree** to 1e-9' if check.agrees(1e-9) else '**DISAGREE**'}).",
    ]
    return lines


def render_prospective(outcomes: pd.DataFrame | None) -> list[str]:
    """The markdown of the prospective validation of one database (nothing without it)."""
    if outcomes is None or outcomes.empty:
        return []
    followed = prospective.followed_up_patients(outcomes)
    lines = [
        "",
        "### Do the segments predict next year? (prospective validation)",
        "",
        "The same data built in index mode (var `feature_index: first_year`, what `make prospective` "
        "runs): features, scaler, centroids and personas fitted on what each patient's first year in "
        "hospital records showed, segments assigned at the end of it, outcomes counted over the "
        f"following 365 days; {followed:,} patients have that year of follow-up (docs block "
        "`prospective_validation`). Per outcome and grouping: the concentration index (twice the area "
        "between the gains curve and the diagonal; 0 separates no one) and the group with the highest "
        "mean, with its share of the patients and of the outcome and its lift (95 % interval). The "
        "baseline needs no model: the patients' admissions in the year before the index.",
        "",
    ]
    rows = []
    for item in prospective.summarise(outcomes):
        rows.append(
            [
                prospective.OUTCOMES[item.outcome],
                "segments" if item.grouping == "segment" else "baseline",
                f"{item.groups:,}",
                _number(item.concentration_index),
                item.top_label,
                _share(item.top_share_of_patients),
                _share(item.top_share_of_outcome),
                _estimate(item.top_lift, item.top_ci_lower, item.top_ci_upper),
            ]
        )
    lines += _table(
        [
            "next-year outcome",
            "grouping",
            "groups",
            "concentration index",
            "top group",
            "its patients",
            "its share of the outcome",
            "lift (95 % CI)",
        ],
        rows,
    )
    lines += ["", verdict(prospective.summarise(outcomes))]
    segments = outcomes[outcomes["group_type"] == "segment"]
    lines += ["", "Per segment assigned at the index: mean next-year outcome (95 % interval).", ""]
    table = []
    for key, group in segments.groupby("group_key", sort=True):
        by_outcome = group.set_index("outcome")
        cells = []
        for outcome in prospective.OUTCOMES:
            if outcome not in by_outcome.index:
                cells.append("-")
                continue
            row = by_outcome.loc[outcome]
            cells.append(_estimate(row["mean_outcome"], row["ci_lower"], row["ci_upper"]))
        first = group.iloc[0]
        table.append([f"`{key}` {first['group_label']}", f"{int(first['num_patients']):,}", *cells])
    lines += _table(["segment", "patients", *prospective.OUTCOMES.values()], table)
    if followed < 1000:
        lines += [
            "",
            f"{followed:,} patients: the intervals are wide; the numbers show the method, not a finding.",
        ]
    return lines


def verdict(summaries: Sequence[prospective.GroupingSummary]) -> str:
    """Which grouping concentrates each outcome more, in one sentence read off the summaries."""
    index = {(item.outcome, item.grouping): item.concentration_index for item in summaries}
    better: dict[str, list[str]] = {"segments": [], "baseline": [], "neither": []}
    for outcome, label in prospective.OUTCOMES.items():
        segments, baseline = index.get((outcome, "segment")), index.get((outcome, "prior_year_admissions"))
        if segments is None or baseline is None or pd.isna(segments) or pd.isna(baseline):
            continue
        better[
            "segments" if segments > baseline else "baseline" if baseline > segments else "neither"
        ].append(label)
    parts = [
        f"{'the segments' if name == 'segments' else 'the baseline' if name == 'baseline' else 'neither'} "
        f"for {', '.join(labels)}"
        for name, labels in better.items()
        if labels
    ]
    return (
        "Higher concentration index: " + "; ".join(parts) + ". Where the baseline concentrates an outcome "
        "at least as well, the segments add nothing to prior-year admissions for predicting it."
    )


def render(findings: Sequence[Findings], provenance: Sequence[str]) -> str:
    """The whole report, ``docs/validation.md``."""
    lines = [
        "# Segmentation validation: the hospital population, the return curves and the prospective "
        "test, at full scale and on the demo",
        "",
        "Written by `make validation-report` (`python -m mimic_segments.reporting.validation`); every number "
        "is read from the marts of the builds below, none is typed by hand. The population rule, "
        "the rule-defined segment and the persona fit are defined in `docs/segmentation.md` "
        "(docs blocks `clustering_population`, `persona_assignment`, `persona_match_score`).",
        "",
        "The generated release proves the machinery (who is clustered, that counts reconcile, that "
        "fits are reported honestly, that the return curves are computed as statsmodels computes "
        "them, that the prospective test runs end to end at this size), not clinical truth: the "
        "generator draws each admission's diagnoses independently, and its readmission intervals "
        "and deaths from distributions fitted to the demo, so its segments, curves and predictive "
        "power are not MIMIC-IV's.",
        "",
        *provenance,
        "",
    ]
    for item in findings:
        lines += render_findings(item)
    return "\n".join(lines).rstrip() + "\n"


def dbt_env(work: Path, name: str) -> dict[str, str]:
    """The environment of a dbt run (the profile's dev target) into ``<work>/<name>.duckdb``,
    with its own target and logs."""
    env = dict(os.environ)
    env.update(
        DBT_PROFILES_DIR=str(REPO_ROOT),
        MIMIC_SEGMENTS_DEV_DB=str(work / f"{name}.duckdb"),
        DBT_TARGET_PATH=str(work / f"target-{name}"),
        DBT_LOG_PATH=str(work / f"logs-{name}"),
        DBT_SEND_ANONYMOUS_USAGE_STATS="false",
    )
    env.pop("MIMIC_RELEASE_DIR", None)
    return env


# what the build of the other readmission mode needs: the episodes and the tests of what it
# builds (cautious: not a test that also reads a model left out)
READMISSION_SELECT = ("--select", "+int_episodes_flagged_for_readmission", "--indirect-selection", "cautious")


def build(work: Path, name: str, variables: str | None, select: Sequence[str] = ()) -> Path:
    """``dbt build`` (every test, or those of ``select``) into ``<work>/<name>.duckdb``; raises
    naming the log on failure."""
    env = dbt_env(work, name)
    command = [str(DBT), "build", *(["--vars", variables] if variables else []), *select]
    print(f"dbt build ({name}) -> {env['MIMIC_SEGMENTS_DEV_DB']}", flush=True)
    result = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ValidationError(
            f"dbt build of {name} failed (log: {env['DBT_LOG_PATH']}/dbt.log):\n{result.stdout[-4000:]}"
        )
    return Path(env["MIMIC_SEGMENTS_DEV_DB"])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=RELEASES["3.1"].patients)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--release", default="3.1", choices=sorted(RELEASES))
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK, help="where releases and databases go")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument(
        "--render-only", action="store_true", help="read --release-db and --demo-db, build nothing"
    )
    parser.add_argument("--release-db", type=Path)
    parser.add_argument("--demo-db", type=Path)
    parser.add_argument("--release-prospective-db", type=Path, help="index-mode build of the release")
    parser.add_argument("--demo-prospective-db", type=Path, help="index-mode build of the demo")
    parser.add_argument(
        "--release-all-stays-db", type=Path, help="build of the release with readmission_definition all_stays"
    )
    parser.add_argument(
        "--demo-all-stays-db", type=Path, help="build of the demo with readmission_definition all_stays"
    )
    parser.add_argument(
        "--demo-release-dir",
        type=Path,
        default=Path(os.environ["MIMIC_DEMO_DIR"]) if os.environ.get("MIMIC_DEMO_DIR") else None,
        help="the demo's own files (default $MIMIC_DEMO_DIR): its index-mode build reads them in place",
    )
    parser.add_argument(
        "--release-dir",
        type=Path,
        help="an existing release (MIMIC-IV layout) to build instead of generating one",
    )
    args = parser.parse_args(argv)

    shape = RELEASES[args.release]
    release_label = f"Generated release: {args.patients:,} patients shaped like MIMIC-IV {args.release}" + (
        f" (`{args.release_dir.name}`)" if args.release_dir else f" (seed {args.seed})"
    )
    try:
        if args.render_only:
            if not (args.release_db and args.demo_db):
                parser.error("--render-only needs --release-db and --demo-db")
            release_db, demo_db = args.release_db, args.demo_db
            release_prospective_db, demo_prospective_db = (
                args.release_prospective_db,
                args.demo_prospective_db,
            )
            release_all_stays_db, demo_all_stays_db = args.release_all_stays_db, args.demo_all_stays_db
        else:
            args.work.mkdir(parents=True, exist_ok=True)
            release_dir = (
                args.release_dir or args.work / f"release-{args.release}-{args.patients}-seed{args.seed}"
            )
            if not (release_dir / "hosp" / "patients.csv.gz").is_file():
                if args.release_dir:
                    parser.error(f"--release-dir {release_dir}: no hosp/patients.csv.gz")
                generate_release(release_dir, args.patients, seed=args.seed, release=args.release)
            variables = json.dumps(
                {
                    "mimic_source_mode": "release",
                    "mimic_release_dir": str(release_dir),
                    "mimic_last_data_year": shape.last_data_year,
                }
            )
            release_db = build(args.work, "generated", variables)
            demo_db = build(args.work, "demo", None)
            index_mode = {"feature_index": "first_year"}
            release_prospective_db = build(
                args.work, "generated-prospective", json.dumps({**json.loads(variables), **index_mode})
            )
            # In index mode the demo is read from its own files in place (release mode), as
            # tests/python/test_prospective.py builds it.
            demo_index_mode = (
                {
                    "mimic_source_mode": "release",
                    "mimic_release_dir": str(args.demo_release_dir),
                    "mimic_last_data_year": RELEASES["2.2"].last_data_year,
                    **index_mode,
                }
                if args.demo_release_dir
                else index_mode
            )
            demo_prospective_db = build(args.work, "demo-prospective", json.dumps(demo_index_mode))
            all_stays = {"readmission_definition": READMISSION_MODES[1]}
            release_all_stays_db = build(
                args.work,
                "generated-all-stays",
                json.dumps({**json.loads(variables), **all_stays}),
                READMISSION_SELECT,
            )
            demo_all_stays_db = build(args.work, "demo-all-stays", json.dumps(all_stays), READMISSION_SELECT)
        findings = [
            collect(release_db, release_label, release_prospective_db, release_all_stays_db),
            collect(demo_db, "MIMIC-IV demo 2.2 (100 patients)", demo_prospective_db, demo_all_stays_db),
        ]
    except (ValidationError, duckdb.Error) as error:
        print(f"validation report not written: {error}", file=sys.stderr)
        return 1
    generated_by = (
        f"the release in `{args.release_dir.name}`, generated beforehand in the MIMIC-IV "
        f"{args.release} layout and read in place (`--release-dir`)"
        if args.release_dir
        else f"`python -m mimic_segments.synthetic.generator --patients "
        f"{args.patients} --seed {args.seed} --release {args.release}`"
    )
    provenance = [
        f"Commit `{git_commit(REPO_ROOT, short=True) or 'unknown'}`. Generated release: "
        f"{generated_by} (the release's own share of "
        f"never-admitted patients: {shape.patients - shape.admitted_patients:,} of {shape.patients:,}, "
        f"{100 * (1 - shape.admitted_share):.1f} %, scaled to {args.patients:,}). Every build uses the "
        "project's default vars (k = 4); the prospective builds add `feature_index: first_year`, and "
        "the builds of the episodes alone `readmission_definition: all_stays`.",
    ]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(render(findings, provenance))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
