"""Prospective validation: read ``marts.segment_prospective_outcomes``, summarise it, draw it.

The mart (index mode only: var ``feature_index``, ``make prospective``) holds, per segment
assigned at each patient's index and per group of the no-model baseline (admissions in the
year before the index), the next year's mean outcome with its 95 % interval, the lift over all
followed-up patients, and the group's share of the patients next to its share of the outcome.
This module turns those rows into what a reader compares (docs block
``prospective_validation``):

- the **gains curve** of a grouping: groups ranked by mean outcome, highest first, the
  cumulative share of the outcome against the cumulative share of the patients. A grouping
  that separates no one follows the diagonal; one that puts all of the outcome in its first
  group rises straight up.
- the **concentration index**: twice the area between the gains curve and the diagonal (a Gini
  coefficient of the grouping, 0 for no separation, towards 1 for perfect), one number per
  grouping and outcome, so segments and baseline are compared on the same scale. Grouped data
  understate it (patients within a group count as equal): it measures what the grouping
  separates, which is the question.
- the lift-and-concentration figure of the HTML report.

Everything here is computed from the mart's own columns, so a BI tool can draw the same.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

MART = "marts.segment_prospective_outcomes"
# the mart's outcomes in reading order, as they are named in prose
OUTCOMES = {
    "admissions": "admissions",
    "bed_days": "bed-days",
    "icu_days": "ICU days",
    "early_readmissions": "early readmissions",
    "died": "deaths",
    "early_readmission_or_death": "deaths or early readmissions (LACE's outcome)",
}
GROUPINGS = {
    "segment": "Segments assigned at the index",
    "lace_band": "LACE bands at the index",
    "segment_lace_band": "Segment with LACE band",
    "prior_year_admissions": "Baseline: prior-year admissions",
}
# short names, for legends and sentences
GROUPING_NAMES = {
    "segment": "segments",
    "lace_band": "LACE bands",
    "segment_lace_band": "segment with LACE band",
    "prior_year_admissions": "baseline",
}
GROUPING_COLOURS = {
    "segment": "#0072B2",
    "lace_band": "#D55E00",
    "segment_lace_band": "#009E73",
    "prior_year_admissions": "#8C8C8C",
}
# the groupings whose groups the figure's lift panels draw (segment with LACE band has up to
# four times the segments' groups: its gains curve is drawn, its bars are in the tables)
LIFT_GROUPINGS = ("segment", "lace_band", "prior_year_admissions")
FIGURE_TITLE = "Do the segments predict next year?"
FIGURE_CAPTION = (
    "Top, per next-year outcome: each group's lift over all followed-up patients with its 95 % interval, "
    "the segments assigned at the index in their colours, the bands of LACE at the index in orange and "
    "the no-model baseline (prior-year admissions) in grey. Bottom: the gains curves of the four "
    "groupings (segment with LACE band in green), groups ranked by mean outcome: the share of the "
    "outcome held by the highest groups against their share of the patients; the further above the "
    "diagonal, the better a grouping concentrates the outcome (concentration index in the legend)."
)


def read_outcomes(connection: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """The mart, ordered by grouping, outcome and group."""
    return connection.execute(f"select * from {MART} order by group_type, outcome, group_key").df()


def rows_of(outcomes: pd.DataFrame, grouping: str, outcome: str) -> pd.DataFrame:
    """One grouping's rows for one outcome, ranked by mean outcome (highest first; ties: the
    smaller group first, then the key, so the order never depends on the read order)."""
    rows = outcomes[(outcomes["group_type"] == grouping) & (outcomes["outcome"] == outcome)]
    return rows.sort_values(
        ["mean_outcome", "num_patients", "group_key"], ascending=[False, True, True]
    ).reset_index(drop=True)


def top_group(outcomes: pd.DataFrame, grouping: str, outcome: str) -> pd.Series | None:
    """The group of ``grouping`` with the highest mean ``outcome`` (ties: the smaller group)."""
    rows = rows_of(outcomes, grouping, outcome)
    return None if rows.empty else rows.iloc[0]


def gains_curve(rows: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative share of patients and of the outcome, from (0, 0), over ranked ``rows``."""
    patients = np.concatenate([[0.0], np.cumsum(rows["share_of_patients"].to_numpy(dtype=float))])
    outcome = np.concatenate([[0.0], np.cumsum(rows["share_of_outcome"].fillna(0).to_numpy(dtype=float))])
    return patients, outcome


def concentration_index(rows: pd.DataFrame) -> float:
    """Twice the area between the gains curve of ranked ``rows`` and the diagonal; NaN when
    the outcome never happened (no share of it to concentrate)."""
    if rows.empty or not (rows["outcome_total"] > 0).any():
        return float("nan")
    x, y = gains_curve(rows)
    area = float(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2))
    return 2 * area - 1


@dataclass(frozen=True)
class GroupingSummary:
    """How one grouping separates one outcome."""

    grouping: str
    outcome: str
    groups: int
    concentration_index: float
    top_label: str
    top_share_of_patients: float
    top_share_of_outcome: float
    top_lift: float
    top_ci_lower: float
    top_ci_upper: float
    population_mean: float


def summarise(outcomes: pd.DataFrame) -> list[GroupingSummary]:
    """Per outcome (in OUTCOMES order) and grouping: the concentration index and the top group."""
    summaries = []
    for outcome in OUTCOMES:
        for grouping in GROUPINGS:
            rows = rows_of(outcomes, grouping, outcome)
            if rows.empty:
                continue
            top = rows.iloc[0]
            mean = float(top["population_mean"])
            summaries.append(
                GroupingSummary(
                    grouping=grouping,
                    outcome=outcome,
                    groups=len(rows),
                    concentration_index=concentration_index(rows),
                    top_label=str(top["group_label"]),
                    top_share_of_patients=float(top["share_of_patients"]),
                    top_share_of_outcome=float(top["share_of_outcome"]),
                    top_lift=float(top["lift"]),
                    # the lift's interval: the mean's, over the population mean
                    top_ci_lower=float(top["ci_lower"]) / mean if mean else float("nan"),
                    top_ci_upper=float(top["ci_upper"]) / mean if mean else float("nan"),
                    population_mean=mean,
                )
            )
    return summaries


def followed_up_patients(outcomes: pd.DataFrame) -> int:
    """The patients with follow-up: every grouping covers each of them once per outcome."""
    segments = outcomes[outcomes["group_type"] == "segment"]
    return int(segments.groupby("outcome")["num_patients"].sum().max()) if not segments.empty else 0


def figure_lift_and_concentration(outcomes: pd.DataFrame, segment_colours: dict[str, str]) -> Figure:
    """Top row, per outcome: each group's lift with its 95 % interval (segments in their colours,
    the baseline's groups grey), the population at 1. Bottom row: the gains curves of the two
    groupings against the diagonal, with their concentration index in the legend."""
    present = [outcome for outcome in OUTCOMES if (outcomes["outcome"] == outcome).any()]
    fig = Figure(figsize=(3.3 * max(len(present), 1), 7.6))
    axes = fig.subplots(2, max(len(present), 1), squeeze=False)
    for column, outcome in enumerate(present):
        lift_axis, gains_axis = axes[0][column], axes[1][column]
        labels: list[str] = []
        positions: list[float] = []
        position = 0.0
        for grouping in GROUPINGS:
            rows = rows_of(outcomes, grouping, outcome)
            if rows.empty:
                continue
            for row in rows.itertuples() if grouping in LIFT_GROUPINGS else ():
                mean = float(row.population_mean)
                colour = (
                    segment_colours.get(str(row.group_key), GROUPING_COLOURS["segment"])
                    if grouping == "segment"
                    else GROUPING_COLOURS[grouping]
                )
                lift_axis.barh(position, float(row.lift), color=colour, alpha=0.85)
                if mean and pd.notna(row.ci_lower):
                    lift_axis.plot(
                        [float(row.ci_lower) / mean, float(row.ci_upper) / mean],
                        [position, position],
                        color="#222222",
                        linewidth=1.2,
                    )
                labels.append(
                    f"{row.group_key} prior-year adm."
                    if grouping == "prior_year_admissions"
                    else _short(str(row.group_label))
                )
                positions.append(position)
                position += 1
            # a half-bar gap between one grouping's groups and the next's
            if grouping in LIFT_GROUPINGS:
                position += 0.5
            x, y = gains_curve(rows)
            name = GROUPING_NAMES[grouping].capitalize()
            gains_axis.plot(
                x,
                y,
                marker="o",
                markersize=3,
                color=GROUPING_COLOURS[grouping],
                label=f"{name} ({concentration_index(rows):.2f})",
            )
        lift_axis.axvline(1.0, color="#444444", linestyle="--", linewidth=1)
        lift_axis.set_yticks(positions, labels, fontsize=7)
        lift_axis.invert_yaxis()
        lift_axis.set_title(f"Next-year {OUTCOMES[outcome]}", loc="left", fontsize=10, fontweight="bold")
        lift_axis.set_xlabel("Lift over all followed-up patients", fontsize=8)
        gains_axis.plot([0, 1], [0, 1], color="#BBBBBB", linewidth=1)
        gains_axis.set_xlim(0, 1)
        gains_axis.set_ylim(0, 1)
        gains_axis.set_xlabel("Share of patients (highest groups first)", fontsize=8)
        gains_axis.set_ylabel(f"Share of {OUTCOMES[outcome]}", fontsize=8)
        gains_axis.legend(title="Concentration index", fontsize=7, title_fontsize=7, loc="lower right")
        for axis in (lift_axis, gains_axis):
            axis.spines[["top", "right"]].set_visible(False)
            axis.tick_params(labelsize=7)
    fig.suptitle(
        "Do the segments predict next year? Lift per group (95 % interval), and concentration against LACE "
        "and the no-model baseline",
        fontsize=11,
        fontweight="bold",
    )
    fig.tight_layout()
    return fig


def _short(label: str, width: int = 28) -> str:
    return label if len(label) <= width else label[: width - 1] + "…"
