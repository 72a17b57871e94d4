"""The segmentation report's words: numbers and shares formatted, and its sentences about a
segment, a build or the prospective validation, as plain text (the HTML template escapes them).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mimic_segments.reporting import prospective
from mimic_segments.reporting.prospective import top_group
from mimic_segments.reporting.report_data import CLUSTERED, feature_label
from mimic_segments.segmentation.personas import DEFAULT_MIN_MATCH_SCORE

# Below this margin over the runner-up persona, two personas describe a segment about equally.
NARROW_MARGIN = 0.1


def is_missing(value: object) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value))


def fmt(value: object, digits: int = 1) -> str:
    """A number with thousands separators and ``digits`` decimals; ``n/a`` when missing."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "n/a"
    return f"{value:,.{digits}f}"


def pct(value: object) -> str:
    """A share as a whole percentage (``12%``); ``n/a`` when missing."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "n/a"
    return f"{value:.0%}"


def pct_one_decimal(value: object) -> str:
    """A share as a percentage with one decimal (``12.3 %``); ``n/a`` when missing."""
    if value is None or pd.isna(value):
        return "n/a"
    return f"{100 * float(value):.1f} %"


def value_of(segment: pd.Series, column: str) -> object:
    """A segment's value of a column, or None when the marts do not carry it."""
    value = segment.get(column)
    return None if is_missing(value) else value


def in_sentence(label: str) -> str:
    """A label inside a sentence: lower-case first word unless it is a name or an acronym."""
    first = label.split(" ", 1)[0]
    return label if first in {"Charlson", "ICU", "ED"} else label[0].lower() + label[1:]


def size_label(segment: pd.Series) -> str:
    """Count and shares of a segment: of the registry, and of the clustering population."""
    n, registry = int(segment["num_patients"]), segment["share_of_registry"]
    if segment["segment_kind"] == CLUSTERED:
        return (
            f"{n:,} patients ({pct(registry)} of registry, "
            f"{pct(segment['share_of_clustered_population'])} of clustered)"
        )
    return f"{n:,} patients ({pct(registry)} of registry; not clustered)"


def segment_numbers(segment: pd.Series) -> list[tuple[str, str]]:
    """Label and formatted value of a segment's key numbers; a number the marts lack is left out."""

    def one(value: object) -> str:
        return fmt(value)

    def whole(value: object) -> str:
        return fmt(value, 0)

    def admissions(mean: object) -> str:
        return f"{fmt(value_of(segment, 'median_num_admissions'), 0)} / {fmt(mean)}"

    numbers = [("Patients", size_label(segment))]
    priority = value_of(segment, "outreach_priority")
    if priority is not None:
        numbers.append(("Outreach priority", f"{int(priority)} (1 = first)"))
    profile = [
        ("mean_num_admissions", "Admissions (median / mean)", admissions),
        ("median_avg_length_of_stay_days", "Avg stay, days (median)", one),
        ("mean_total_length_of_stay_days", "Total hospital days (mean)", one),
        ("mean_icu_stay_count", "ICU stays (mean)", one),
        ("mean_total_icu_days", "Total ICU days (mean)", one),
        ("mean_num_ed_visits", "ED visits (mean)", one),
        ("median_num_unique_icd_diagnoses", "Distinct diagnoses (median)", whole),
        ("mean_age_at_last_admission", "Age at last admission (mean)", whole),
        ("mean_emergency_admission_share", "Emergency admissions (mean share)", pct),
        ("mean_charlson_comorbidity_index", "Charlson index (mean)", one),
        ("mean_num_chronic_conditions", "Chronic conditions (mean)", one),
        ("rate_has_chronic_condition", "Has a chronic condition", pct),
        ("early_readmission_rate", "Early (30-day by default) readmission rate", pct),
        ("rate_in_hospital_death", "Died in hospital", pct),
        ("rate_died_within_1y_of_last_discharge", "Died within 1 year of last discharge", pct),
    ]
    for column, label, formatter in profile:
        value = value_of(segment, column)
        if value is not None:
            numbers.append((label, formatter(value)))
    return numbers


def persona_fit_note(segment: pd.Series) -> str:
    """The fit of a clustered segment's persona, its runner-up and margin, in one line."""
    score = value_of(segment, "persona_match_score")
    if score is None:
        return "Persona fit: not available."
    note = f"Persona fit {score:+.2f} (cosine similarity, -1 to 1)"
    runner_up, margin = value_of(segment, "runner_up_persona_name"), value_of(segment, "persona_match_margin")
    if runner_up is not None and margin is not None:
        note += f"; runner-up: {runner_up}, margin {margin:+.2f}"
        if margin < 0:
            note += (
                " (negative: the runner-up fits this segment better, but the one-to-one assignment gave "
                "that persona to another segment)"
            )
        elif margin < NARROW_MARGIN:
            note += " (narrow: two personas describe this segment about equally)"
    return note + "."


def weak_match_threshold(segment: pd.Series) -> float:
    """The weak-match threshold of the build (stored in segment_personas), else the default."""
    value = value_of(segment, "persona_min_match_score")
    return float(value) if value is not None else DEFAULT_MIN_MATCH_SCORE


def weak_match_text(segment: pd.Series) -> str:
    """Why a weak persona match should not be acted on as it stands; empty for a good match."""
    flag = value_of(segment, "is_weak_persona_match")
    if flag is None or not bool(flag):
        return ""
    score = value_of(segment, "persona_match_score")
    fit = f"fit {score:+.2f}" if score is not None else "fit"
    return (
        f"the persona's {fit} is below var persona_min_match_score "
        f"({weak_match_threshold(segment):.2f}), so the name \u201c{segment['segment_name']}\u201d and its "
        "suggested action describe this segment poorly. Read the segment's profile (what it stands out "
        "for, its numbers and diagnoses) before acting on the persona."
    )


def stands_out(centre: pd.Series) -> str:
    """The three features a clustered segment's standardized centre is furthest from 0 on."""
    strongest = centre.reindex(centre.abs().sort_values(ascending=False, kind="mergesort").index)[:3]
    return "; ".join(
        f"{'higher' if z > 0 else 'lower'} {in_sentence(feature_label(f))} ({z:+.1f} SD)"
        for f, z in strongest.items()
    )


def stability_problems(diagnostics: pd.DataFrame) -> list[str]:
    """In plain words, how the k in use fails the stability or the size rule; none if it passes."""
    chosen = diagnostics[diagnostics["is_chosen"]].iloc[0]
    if bool(chosen["is_eligible"]):
        return []
    problems = []
    if chosen["stability_mean_ari"] < chosen["rule_min_stability"]:
        problems.append(
            f"refitting on resampled patients reproduces these segments only partly (mean adjusted Rand "
            f"index {chosen['stability_mean_ari']:.2f}, below {chosen['rule_min_stability']:.2f})"
        )
    if chosen["smallest_cluster_share"] < chosen["rule_min_segment_share"]:
        problems.append(
            f"the smallest clustered segment holds only {chosen['smallest_cluster_share']:.0%} of the "
            "clustered patients"
        )
    if is_missing(chosen["silhouette"]):
        problems.append("the silhouette of these segments is undefined")
    return problems


def concentration_sentence(outcomes: pd.DataFrame, grouping: str, outcome: str) -> str:
    """'the top segment (X) holds N % of patients and accounts for N % of next-year bed-days'."""
    top = top_group(outcomes, grouping, outcome)
    if top is None:
        return ""
    kind = {
        "segment": "segment",
        "lace_band": "LACE band",
        "segment_lace_band": "segment and LACE band",
    }.get(grouping, "baseline group")
    return (
        f"The top {kind} ({top['group_label']}) holds {pct(top['share_of_patients'])} "
        f"of the followed-up patients and accounts for {pct(top['share_of_outcome'])} of their next-year "
        f"{prospective.OUTCOMES.get(outcome, outcome)} (lift {fmt(top['lift'], 2)})."
    )
