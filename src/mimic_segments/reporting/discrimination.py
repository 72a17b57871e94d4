"""The prospective comparison: which grouping concentrates and discriminates each next-year outcome.

Four groupings are compared on the same followed-up patients and outcomes (docs block
``prospective_comparison``): the segments assigned at the index, the bands of LACE at the index,
segment with LACE band inside it, and the no-model baseline (prior-year admissions). Per
grouping and outcome this module gives

- the **concentration index** of the grouping (``prospective.concentration_index``, from the
  rows of ``marts.segment_prospective_outcomes``), for every outcome;
- for the binary outcomes (death, LACE's own outcome), the **C-statistic**: the area under the
  ROC curve of the grouping's *ordinal score* (``segmentation.patient_prospective_scores``,
  ``ordinal_score_<grouping>``: the rank the grouping gives a patient at the index, fitted to
  no outcome; macro ``prospective_ordinal_score``), by scikit-learn's ``roc_auc_score``, with a
  95 % percentile interval from a stratified bootstrap (positives and negatives resampled
  separately, so every resample has both; a fixed seed, so the same data give the same
  interval).

``compare`` returns one row per grouping and outcome, the table ``segment_prospective_comparison``
(the dbt Python model of that name writes it) and the report's and ``docs/validation.md``'s
comparison; ``verdict_sentences`` says which grouping does best, read off that table.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.metrics import roc_auc_score

from mimic_segments.reporting import prospective

# every outcome of segment_prospective_outcomes, and the binary ones that get a C-statistic
BINARY_OUTCOMES = ("died", "early_readmission_or_death")
OUTCOME_LABELS = {
    **prospective.OUTCOMES,
    "early_readmission_or_death": "death or unplanned readmission within 30 days of a discharge",
}
GROUPING_LABELS = {
    "segment": "segments",
    "lace_band": "LACE bands",
    "segment_lace_band": "segment with LACE band",
    "prior_year_admissions": "prior-year admissions",
}
# what each grouping's ordinal score is, in words (macro prospective_ordinal_score)
ORDINAL_SCORES = {
    "segment": "minus the segment's outreach priority",
    "lace_band": "LACE total at the index (-1 without one)",
    "segment_lace_band": "outreach priority, then LACE total within it",
    "prior_year_admissions": "admissions in the year before the index",
}
FIGURE_TITLE = "Segments, LACE, segment with LACE, prior admissions: which predicts next year?"
FIGURE_CAPTION = (
    "The same followed-up patients, grouped four ways at the index. Left: the concentration index of "
    "each grouping per next-year outcome (twice the area between its gains curve and the diagonal; 0 "
    "separates no one). Right, for the binary outcomes: the C-statistic (AUC, scikit-learn's "
    "roc_auc_score) of each grouping's ordinal score, fitted to no outcome (minus the outreach "
    "priority; LACE total; priority then LACE; prior-year admissions), with its 95 % stratified "
    "bootstrap interval; 0.5 ranks no better than chance. From marts.segment_prospective_comparison."
)
RESAMPLES = 1000
SEED = 29
LEVEL = 0.95
COLUMNS = (
    "grouping",
    "grouping_label",
    "outcome",
    "outcome_label",
    "is_binary_outcome",
    "num_patients",
    "num_groups",
    "outcome_total",
    "concentration_index",
    "ordinal_score",
    "num_positive",
    "auc",
    "auc_ci_lower",
    "auc_ci_upper",
    "bootstrap_resamples",
    "bootstrap_seed",
    "is_best_concentration",
    "is_best_auc",
)


def auc(outcome: Sequence[float] | np.ndarray, score: Sequence[float] | np.ndarray) -> float:
    """scikit-learn's ROC AUC of ``score`` for the binary ``outcome``; NaN when only one class
    is present (no pair of a positive and a negative to rank)."""
    y = np.asarray(outcome, dtype=float)
    if y.size == 0 or np.all(y == y[0]):
        return float("nan")
    return float(roc_auc_score(y, np.asarray(score, dtype=float)))


def auc_interval(
    outcome: Sequence[float] | np.ndarray,
    score: Sequence[float] | np.ndarray,
    resamples: int = RESAMPLES,
    seed: int = SEED,
    level: float = LEVEL,
) -> tuple[float, float]:
    """The ``level`` percentile interval of the AUC over ``resamples`` stratified bootstrap
    resamples: the positives and the negatives each drawn with replacement to their own number.
    (NaN, NaN) when a class is missing.

    A resample drawn with replacement from a class is, in distribution, a multinomial draw of
    how many times each of its distinct scores occurs; so each resample is drawn as those
    counts (``numpy.random.default_rng(seed)``, positives first) and scored by
    ``roc_auc_score`` with the counts as sample weights, which gives the AUC of the expanded
    resample exactly. The ordinal scores take few values, so this costs the same at 100 or
    364,627 patients."""
    y = np.asarray(outcome, dtype=float)
    s = np.asarray(score, dtype=float)
    positives, negatives = s[y == 1], s[y != 1]
    if positives.size == 0 or negatives.size == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    positive_values, positive_counts = np.unique(positives, return_counts=True)
    negative_values, negative_counts = np.unique(negatives, return_counts=True)
    labels = np.concatenate([np.ones(positive_values.size), np.zeros(negative_values.size)])
    values = np.concatenate([positive_values, negative_values])
    estimates = np.empty(resamples)
    for draw in range(resamples):
        weights = np.concatenate(
            [
                rng.multinomial(positives.size, positive_counts / positives.size),
                rng.multinomial(negatives.size, negative_counts / negatives.size),
            ]
        )
        estimates[draw] = roc_auc_score(labels, values, sample_weight=weights)
    tail = (1 - level) / 2
    lower, upper = np.quantile(estimates, [tail, 1 - tail])
    return float(lower), float(upper)


def _best(values: pd.Series) -> pd.Series:
    """True where a value is the largest of its outcome's (every tie), never for NaN."""
    top = values.max()
    return values.notna() & (values == top) if pd.notna(top) else pd.Series(False, index=values.index)


def compare(
    outcomes: pd.DataFrame,
    patients: pd.DataFrame,
    resamples: int = RESAMPLES,
    seed: int = SEED,
) -> pd.DataFrame:
    """One row per grouping and outcome (``COLUMNS``): the concentration index from
    ``outcomes`` (segment_prospective_outcomes), and for a binary outcome the AUC of the
    grouping's ordinal score with its bootstrap interval from ``patients``
    (patient_prospective_scores). Groupings and outcomes in reading order; the best of each
    outcome flagged."""
    rows = []
    for outcome in OUTCOME_LABELS:
        for grouping in GROUPING_LABELS:
            grouped = prospective.rows_of(outcomes, grouping, outcome)
            if grouped.empty:
                continue
            binary = outcome in BINARY_OUTCOMES
            column = f"ordinal_score_{grouping}"
            if binary and column in patients.columns and outcome in patients.columns:
                y, score = patients[outcome].to_numpy(dtype=float), patients[column].to_numpy(dtype=float)
                estimate = auc(y, score)
                lower, upper = auc_interval(y, score, resamples, seed)
                positive = int((y == 1).sum())
            else:
                estimate = lower = upper = float("nan")
                positive = None
            rows.append(
                {
                    "grouping": grouping,
                    "grouping_label": GROUPING_LABELS[grouping],
                    "outcome": outcome,
                    "outcome_label": OUTCOME_LABELS[outcome],
                    "is_binary_outcome": binary,
                    "num_patients": int(grouped["num_patients"].sum()),
                    "num_groups": len(grouped),
                    "outcome_total": float(grouped["outcome_total"].sum()),
                    "concentration_index": prospective.concentration_index(grouped),
                    "ordinal_score": ORDINAL_SCORES[grouping],
                    "num_positive": positive,
                    "auc": estimate,
                    "auc_ci_lower": lower,
                    "auc_ci_upper": upper,
                    "bootstrap_resamples": resamples if binary else None,
                    "bootstrap_seed": seed if binary else None,
                }
            )
    table = pd.DataFrame(rows, columns=[c for c in COLUMNS if not c.startswith("is_best")])
    if table.empty:
        return table.assign(is_best_concentration=pd.Series(dtype=bool), is_best_auc=pd.Series(dtype=bool))
    table["is_best_concentration"] = table.groupby("outcome")["concentration_index"].transform(_best)
    table["is_best_auc"] = table.groupby("outcome")["auc"].transform(_best)
    table["num_positive"] = table["num_positive"].astype("Int64")
    table["bootstrap_resamples"] = table["bootstrap_resamples"].astype("Int64")
    table["bootstrap_seed"] = table["bootstrap_seed"].astype("Int64")
    return table[list(COLUMNS)]


def _names(labels: list[str]) -> str:
    return labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " and " + labels[-1]


def verdict_sentences(table: pd.DataFrame) -> list[str]:
    """Per outcome, one sentence read off the comparison table: which grouping concentrates it
    best (with its index and the runner-up's) and, for a binary outcome, which discriminates it
    best (AUC with its interval), and whether the intervals of the best and the runner-up
    overlap."""
    sentences = []
    for outcome, label in OUTCOME_LABELS.items():
        rows = table[table["outcome"] == outcome]
        if rows.empty:
            continue
        ranked = rows.dropna(subset=["concentration_index"]).sort_values(
            "concentration_index", ascending=False, kind="stable"
        )
        if ranked.empty:
            sentences.append(f"Next-year {label}: it never happened, so no grouping concentrates it.")
            continue
        best = ranked[ranked["concentration_index"] == ranked["concentration_index"].iloc[0]]
        text = (
            f"Next-year {label}: best concentrated by {_names(best['grouping_label'].tolist())} "
            f"(concentration index {ranked['concentration_index'].iloc[0]:.3f}"
        )
        rest = ranked[ranked["concentration_index"] < ranked["concentration_index"].iloc[0]]
        if not rest.empty:
            text += f"; next, {rest['grouping_label'].iloc[0]} {rest['concentration_index'].iloc[0]:.3f}"
        text += ")"
        discriminated = rows.dropna(subset=["auc"]).sort_values("auc", ascending=False, kind="stable")
        if not discriminated.empty:
            top, ties = (
                discriminated.iloc[0],
                discriminated[discriminated["auc"] == discriminated["auc"].iloc[0]],
            )
            text += (
                f", best discriminated by {_names(ties['grouping_label'].tolist())} "
                f"(AUC {top['auc']:.3f}, 95 % interval {top['auc_ci_lower']:.3f} to {top['auc_ci_upper']:.3f}"
            )
            others = discriminated[discriminated["auc"] < top["auc"]]
            if not others.empty:
                second = others.iloc[0]
                overlap = second["auc_ci_upper"] >= top["auc_ci_lower"]
                text += (
                    f"; next, {second['grouping_label']} {second['auc']:.3f}, "
                    f"{'whose interval overlaps it' if overlap else 'whose interval lies below it'}"
                )
            text += ")"
        elif outcome in BINARY_OUTCOMES:
            text += "; no AUC: only one outcome class among the patients"
        sentences.append(text + ".")
    return sentences


def figure_comparison(table: pd.DataFrame) -> Figure:
    """Left: grouped bars of the concentration index per outcome and grouping. Right: the AUC
    of each grouping per binary outcome with its interval, the chance line at 0.5."""
    outcomes = [outcome for outcome in OUTCOME_LABELS if (table["outcome"] == outcome).any()]
    binary = [outcome for outcome in outcomes if outcome in BINARY_OUTCOMES]
    groupings = [grouping for grouping in GROUPING_LABELS if (table["grouping"] == grouping).any()]
    fig = Figure(figsize=(12, 4.8), layout="constrained")
    concentration, discrimination = fig.subplots(1, 2, width_ratios=[3, 2])
    width = 0.8 / max(len(groupings), 1)
    for offset, grouping in enumerate(groupings):
        rows = table[table["grouping"] == grouping].set_index("outcome").reindex(outcomes)
        colour = prospective.GROUPING_COLOURS[grouping]
        concentration.bar(
            np.arange(len(outcomes)) + (offset - (len(groupings) - 1) / 2) * width,
            rows["concentration_index"].fillna(0).to_numpy(dtype=float),
            width=width,
            color=colour,
            label=GROUPING_LABELS[grouping],
        )
        if binary:
            points = rows.reindex(binary)
            y = np.arange(len(binary)) + (offset - (len(groupings) - 1) / 2) * width
            estimate = points["auc"].to_numpy(dtype=float)
            lower = estimate - points["auc_ci_lower"].to_numpy(dtype=float)
            upper = points["auc_ci_upper"].to_numpy(dtype=float) - estimate
            discrimination.errorbar(
                estimate,
                y,
                xerr=[lower, upper],
                fmt="o",
                color=colour,
                capsize=3,
                label=GROUPING_LABELS[grouping],
            )
    concentration.set_xticks(
        range(len(outcomes)), [_wrap(OUTCOME_LABELS[outcome], 16) for outcome in outcomes], fontsize=8
    )
    concentration.axhline(0, color="#444444", linewidth=0.8)
    concentration.set_ylabel("Concentration index")
    concentration.set_title(
        "Concentration of each next-year outcome", loc="left", fontsize=11, fontweight="bold"
    )
    concentration.legend(fontsize=8)
    discrimination.axvline(0.5, color="#444444", linestyle="--", linewidth=1)
    discrimination.set_yticks(
        range(len(binary)), [_wrap(OUTCOME_LABELS[outcome], 22) for outcome in binary], fontsize=8
    )
    discrimination.invert_yaxis()
    discrimination.set_xlabel("C-statistic (AUC), 95 % bootstrap interval")
    discrimination.set_title(
        "Discrimination of the binary outcomes", loc="left", fontsize=11, fontweight="bold"
    )
    for axis in (concentration, discrimination):
        axis.spines[["top", "right"]].set_visible(False)
    return fig


def _wrap(text: str, width: int) -> str:
    words, lines, line = text.split(), [], ""
    for word in words:
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return "\n".join([*lines, line])
