"""The segmentation report's page: the Jinja2 templates under ``templates/``, filled from
``ReportData`` and the rendered figures.

The templates hold the page's layout and fixed prose; this module gives them what they show,
each value already worded (``report_text``) and escaped by the templates (autoescape). The page
is self-contained: its style is inlined and its figures are embedded as ``data:`` URIs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jinja2
import pandas as pd

from mimic_segments.reporting import discrimination, prospective, return_curves
from mimic_segments.reporting.prospective import GROUPINGS
from mimic_segments.reporting.report_data import CLUSTERED, ReportData, centroid_matrices
from mimic_segments.reporting.report_figures import RULE_DEFINED_COLOUR, RenderedFigure, segment_colour
from mimic_segments.reporting.report_text import (
    concentration_sentence,
    fmt,
    is_missing,
    pct,
    pct_one_decimal,
    persona_fit_note,
    segment_numbers,
    stability_problems,
    stands_out,
    value_of,
    weak_match_text,
)
from mimic_segments.segmentation.personas import DEFAULT_MIN_MATCH_SCORE

TEMPLATE = "segmentation_report.html"
PROSPECTIVE_TEMPLATE = "prospective_section.html"
# The return-curve milestones the page's table shows (days after the first discharge alive).
RETURN_TABLE_DAYS = (30, 90, 365)
# The LACE bands in the order the page's table shows them (marts.segment_lace_bands).
LACE_BANDS = ("low", "moderate", "high", "none")
# Below this many followed-up patients the prospective numbers show the method, not a finding.
PROSPECTIVE_SMALL = 1000

ENVIRONMENT = jinja2.Environment(
    loader=jinja2.PackageLoader("mimic_segments.reporting", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
)


def plural(count: int) -> str:
    return "s" if count != 1 else ""


def population(data: ReportData) -> dict[str, Any]:
    """Registry, clustered and rule-defined patients (the tiles), then every segment's size."""
    registry = int(data.segments["num_patients"].sum())
    clustered = int(data.clustered["num_patients"].sum())
    rule_defined = registry - clustered
    k, r = len(data.clustered), len(data.rule_defined)

    def share(n: int) -> str:
        return pct(n / registry) if registry else "n/a"

    tiles = [
        ("registry", f"{registry:,}", "registry patients", "every patient in hosp.patients"),
        (
            "clustered",
            f"{clustered:,}",
            "clustered (admitted) patients",
            f"{share(clustered)} of the registry, in {k} clustered segment{plural(k)}",
        ),
        (
            "rule-defined",
            f"{rule_defined:,}",
            "rule-defined (never admitted) patients",
            f"{share(rule_defined)} of the registry, in {r} rule-defined segment{plural(r)}"
            if r
            else f"{share(rule_defined)} of the registry: no rule-defined segment",
        ),
    ]
    return {
        "registry": f"{registry:,}",
        "clustered": f"{clustered:,}",
        "never_admitted": f"{rule_defined:,}",
        "k": k,
        "k_plural": plural(k),
        "rule_segments": r,
        "rule_plural": plural(r),
        "everyone_clustered": rule_defined == 0,
        "tiles": [dict(zip(("key", "number", "label", "note"), tile, strict=True)) for tile in tiles],
        "rows": [size_row(segment) for segment in data.segments.itertuples(index=False)],
    }


def size_row(segment: Any) -> dict[str, Any]:
    """A segment's row of the sizes table (``segment``: a row of ``marts.segments``)."""
    is_clustered = segment.segment_kind == CLUSTERED
    return {
        "name": str(segment.segment_name),
        "kind": "clustered" if is_clustered else "rule-defined",
        "patients": f"{int(segment.num_patients):,}",
        "share_of_registry": pct(segment.share_of_registry),
        "share_of_clustered": pct(segment.share_of_clustered_population) if is_clustered else None,
    }


def catalogue_entry(data: ReportData, segment: pd.Series) -> pd.Series | None:
    """The catalogue persona behind a segment's action: by key (rule-defined) or by name."""
    catalogue = data.catalogue
    if "persona_key" in catalogue.columns:
        by_key = catalogue[catalogue["persona_key"] == segment["segment_key"]]
        if not by_key.empty:
            return by_key.iloc[0]
    by_name = catalogue[catalogue["persona_name"] == segment["catalogue_persona_name"]]
    return None if by_name.empty else by_name.iloc[0]


def top_diagnoses(data: ReportData, segment_key: str) -> list[dict[str, str]]:
    diagnoses = data.top_diagnoses[data.top_diagnoses["segment_key"] == segment_key].head(5)
    return [
        {"title": d.long_title, "share": f"{d.share_of_segment:.0%}", "ratio": fmt(d.prevalence_ratio)}
        for d in diagnoses.itertuples(index=False)
    ]


def card(data: ReportData, segment: pd.Series, scaled: pd.DataFrame | None) -> dict[str, Any]:
    """A segment's persona card: for a clustered one (``scaled``: the standardized centroids) its
    fit, naming and what sets it apart; for a rule-defined one its rule."""
    persona = catalogue_entry(data, segment)
    action = value_of(segment, "care_management_action")
    if action is None and persona is not None:
        action = persona.get("care_management_action")
    description = None if persona is None else persona.get("action_description")
    shown = {
        "name": str(segment["segment_name"]),
        "key": str(segment["segment_key"]),
        "action": str(action) if action else None,
        "action_description": None if is_missing(description) else str(description),
        "numbers": segment_numbers(segment),
        "diagnoses": top_diagnoses(data, segment["segment_key"]),
    }
    if scaled is None:
        rule = None if persona is None else value_of(persona, "segment_rule")
        about = None if persona is None else persona.get("description")
        return {
            **shown,
            "kind": "rule-defined",
            "colour": RULE_DEFINED_COLOUR,
            "rule": str(rule) if rule else None,
            "description": None if is_missing(about) else str(about),
        }
    cluster_id = int(segment["cluster_id"])
    naming = None
    if segment.get("naming_rule") == "descriptive":
        naming = "descriptive"
    elif segment["segment_name"] != segment["catalogue_persona_name"]:
        naming = "closest"
    return {
        **shown,
        "kind": "clustered",
        "colour": segment_colour(cluster_id),
        "fit_note": persona_fit_note(segment),
        "naming": naming,
        "catalogue_name": str(segment["catalogue_persona_name"]),
        "weak_match": weak_match_text(segment),
        "stands_out": stands_out(scaled.loc[cluster_id]),
    }


def personas(data: ReportData) -> dict[str, Any]:
    """One card per segment, clustered ones first; how many match their persona weakly, and the
    threshold the build flagged them with."""
    scaled, _ = centroid_matrices(data.centroids)
    cards = [card(data, segment, scaled) for _, segment in data.clustered.iterrows()]
    cards += [card(data, segment, None) for _, segment in data.rule_defined.iterrows()]
    stored = (
        data.clustered["persona_min_match_score"].dropna()
        if "persona_min_match_score" in data.segments
        else []
    )
    return {
        "cards": cards,
        "weak": int(data.clustered["is_weak_persona_match"].fillna(False).astype(bool).sum()),
        "clustered": len(data.clustered),
        "threshold": f"{float(stored.iloc[0]) if len(stored) else DEFAULT_MIN_MATCH_SCORE:.2f}",
    }


DIAGNOSTICS_COLUMNS = [
    ("k", "k", 0),
    ("silhouette", "Silhouette", 3),
    ("stability_mean_ari", "Stability (mean ARI)", 3),
    ("smallest_cluster_share", "Smallest segment", None),
    ("calinski_harabasz", "Calinski-Harabasz", 1),
    ("davies_bouldin", "Davies-Bouldin", 3),
    ("inertia", "Inertia", 1),
]


def diagnostics(table: pd.DataFrame) -> dict[str, Any]:
    """The k-selection table: one row per k, its measures formatted, the chosen one marked."""
    rows = [
        {
            "chosen": bool(row.is_chosen),
            "cells": [
                f"{getattr(row, column):.0%}" if digits is None else fmt(getattr(row, column), digits)
                for column, _, digits in DIAGNOSTICS_COLUMNS
            ],
            "reason": row.selection_reason,
        }
        for row in table.itertuples(index=False)
    ]
    return {"labels": [label for _, label, _ in DIAGNOSTICS_COLUMNS], "rows": rows}


def return_table(curves: pd.DataFrame, segment_order: Sequence[str]) -> dict[str, Any]:
    """Per segment (primary assumption): patients indexed, the cumulative incidence of return with
    its 95 % interval on each milestone day, then 1 - KM and death first on the last."""
    days, last = RETURN_TABLE_DAYS, RETURN_TABLE_DAYS[-1]
    table = return_curves.milestone_rows(curves, segment_order, days)
    rows = [
        {
            "label": str(row["segment_name"]),
            "patients": f"{row['num_patients_indexed']:,}",
            "returned": [
                f"{pct_one_decimal(row[f'cumulative_incidence_return_{d}'])} "
                f"({pct_one_decimal(row[f'cumulative_incidence_return_lower_{d}'])} to "
                f"{pct_one_decimal(row[f'cumulative_incidence_return_upper_{d}'])})"
                for d in days
            ],
            "km": pct_one_decimal(row[f"km_return_probability_death_censored_{last}"]),
            "died_first": pct_one_decimal(row[f"cumulative_incidence_death_{last}"]),
        }
        for _, row in table.iterrows()
    ]
    return {"days": days, "last": last, "rows": rows}


def lace_table(lace_bands: pd.DataFrame, segments: pd.DataFrame) -> dict[str, Any] | None:
    """Per segment: its patients, their shares by LACE band and the mean score of the scored
    (marts.segment_lace_bands); None without that mart."""
    if lace_bands.empty:
        return None
    names = dict(zip(segments["segment_key"], segments["segment_name"], strict=True))
    rows = []
    for key in [k for k in segments["segment_key"] if k in set(lace_bands["segment_key"])]:
        bands = lace_bands[lace_bands["segment_key"] == key].set_index("lace_risk_band")
        scored = bands.drop(index="none", errors="ignore")
        patients = int(scored["num_patients"].sum())
        mean = (
            float((scored["mean_lace_score"].fillna(0) * scored["num_patients"]).sum() / patients)
            if patients
            else None
        )
        rows.append(
            {
                "label": names.get(key, key),
                "patients": f"{int(bands['num_patients'].sum()):,}",
                "shares": [
                    pct(bands.loc[band, "share_of_segment_patients"]) if band in bands.index else "-"
                    for band in LACE_BANDS
                ],
                "mean": fmt(mean, 1) if mean is not None else "-",
                "discharges": f"{int(scored['num_index_discharges'].sum()):,}",
            }
        )
    return {"rows": rows}


def comparison_context(comparison: pd.DataFrame) -> dict[str, Any] | None:
    """The comparison of the four groupings (marts.segment_prospective_comparison): the verdict
    sentences and one row per outcome and grouping; None without that mart."""
    if comparison.empty:
        return None
    rows = [
        {
            "outcome": str(row.outcome_label),
            "grouping": str(row.grouping_label),
            "concentration": fmt(row.concentration_index, 3),
            "auc": (
                f"{fmt(row.auc, 3)} ({fmt(row.auc_ci_lower, 3)} to {fmt(row.auc_ci_upper, 3)})"
                if not is_missing(row.auc)
                else "-"
            ),
            "best": bool(row.is_best_concentration) or bool(row.is_best_auc),
        }
        for row in comparison.itertuples()
    ]
    return {"sentences": discrimination.verdict_sentences(comparison), "rows": rows}


def prospective_outcomes(outcomes: pd.DataFrame) -> list[dict[str, Any]]:
    """Per next-year outcome: the concentration sentences and, per grouping, each group's row."""
    indexes = {
        (item.outcome, item.grouping): item.concentration_index for item in prospective.summarise(outcomes)
    }
    shown = []
    for outcome, label in prospective.OUTCOMES.items():
        sentences = " ".join(
            sentence
            for sentence in (
                concentration_sentence(outcomes, "segment", outcome),
                concentration_sentence(outcomes, "lace_band", outcome),
                concentration_sentence(outcomes, "prior_year_admissions", outcome),
            )
            if sentence
        )
        if (outcome, "segment") in indexes:
            sentences += (
                " Concentration index: "
                + ", ".join(
                    f"{prospective.GROUPING_NAMES[grouping]} {fmt(indexes[(outcome, grouping)], 2)}"
                    for grouping in GROUPINGS
                    if (outcome, grouping) in indexes
                )
                + "."
            )
        groupings = []
        for grouping, title in GROUPINGS.items():
            part = outcomes[(outcomes["group_type"] == grouping) & (outcomes["outcome"] == outcome)]
            rows = [
                {
                    "label": str(row.group_label),
                    "patients": f"{row.num_patients:,}",
                    "mean": f"{fmt(row.mean_outcome, 2)} ({fmt(row.ci_lower, 2)} to {fmt(row.ci_upper, 2)})",
                    "lift": fmt(row.lift, 2),
                    "share_of_patients": pct(row.share_of_patients),
                    "share_of_outcome": pct(row.share_of_outcome),
                }
                for row in part.itertuples()
            ]
            groupings.append({"title": title, "rows": rows})
        shown.append({"label": label, "sentences": sentences, "groupings": groupings})
    return shown


def prospective_context(
    outcomes: pd.DataFrame,
    figure: RenderedFigure | None,
    comparison: pd.DataFrame | None = None,
    comparison_figure: RenderedFigure | None = None,
) -> dict[str, Any] | None:
    """What the prospective-validation section shows (marts.segment_prospective_outcomes, built in
    index mode only, and segment_prospective_comparison); None without the outcomes mart."""
    if outcomes.empty:
        return None
    followed = prospective.followed_up_patients(outcomes)
    return {
        "followed": f"{followed:,}",
        "few": followed < PROSPECTIVE_SMALL,
        "figure": figure,
        "outcomes": prospective_outcomes(outcomes),
        "comparison": comparison_context(comparison if comparison is not None else pd.DataFrame()),
        "comparison_figure": comparison_figure,
    }


def prospective_section(
    outcomes: pd.DataFrame,
    figure: RenderedFigure | None = None,
    comparison: pd.DataFrame | None = None,
    comparison_figure: RenderedFigure | None = None,
) -> str:
    """The prospective-validation section alone, as the page includes it; empty without the mart."""
    context = prospective_context(outcomes, figure, comparison, comparison_figure)
    if context is None:
        return ""
    return ENVIRONMENT.get_template(PROSPECTIVE_TEMPLATE).render(prospective=context)


def build(data: ReportData) -> dict[str, Any] | None:
    """Which build the report shows (marts.build_metadata) and its data-quality warnings."""
    if not data.build:
        return None
    build = data.build
    rows = [
        ("Build", str(build.get("build_id", ""))),
        ("Finished", str(build.get("build_finished_at") or build.get("build_started_at", ""))),
        ("Source", f"{build.get('source_mode', '')}: {build.get('source_release', '')}"),
        ("Project", f"{build.get('project_version', '')} (commit {build.get('git_commit', '')})"),
    ]
    warnings = [
        {
            "check": str(w.check_name),
            "where": str(w.model_name) + (f".{w.column_name}" if isinstance(w.column_name, str) else ""),
            "description": str(w.description),
            "observed": w.observed_value,
        }
        for w in data.quality_warnings.itertuples()
    ]
    return {"rows": rows, "warnings": warnings}


def render_html(data: ReportData, figures: list[RenderedFigure]) -> str:
    """The whole page."""
    by_name = {f.name: f for f in figures}
    segment_order = list(data.segments["segment_key"])
    return ENVIRONMENT.get_template(TEMPLATE).render(
        population=population(data),
        stability_problems=stability_problems(data.diagnostics),
        personas=personas(data),
        figures=by_name,
        return_table=return_table(data.return_curves, segment_order),
        diagnostics=diagnostics(data.diagnostics),
        lace=lace_table(data.lace_bands, data.segments),
        prospective=prospective_context(
            data.prospective, by_name.get("prospective"), data.comparison, by_name.get("comparison")
        ),
        build=build(data),
    )
