"""Return-to-hospital curves: read them from the mart, check them against statsmodels, draw them.

``marts.segment_return_curves`` computes, in SQL, the Aalen-Johansen cumulative incidence of a
return to hospital (death competing), the cumulative incidence of death, and 1 - Kaplan-Meier
with deaths censored, each with its standard error and a 95 % log(-log) interval, per
end-of-data assumption, segment and day (docs block ``return_curves``). This module

- recomputes the same curves with an independent implementation, statsmodels'
  ``SurvfuncRight`` and ``CumIncidenceRight``, from the per-patient follow-up
  (``intermediate.int_patients_followed_for_return``), and measures the largest difference
  (the tests and ``make validation-report`` hold it under 1e-9);
- draws the curves as step plots with their bands, for the HTML report: one panel per segment
  on shared axes with all patients' curve as a grey reference (``figure_return_curves``), and
  for all patients the estimators and end-of-data assumptions side by side
  (``figure_return_overall``).

statsmodels is a test dependency (the ``test`` extra, which ``make`` installs): only
:func:`reference_curves` and :func:`compare_with_statsmodels` need it, and import it when called.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

import duckdb
import matplotlib.ticker
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

MART = "marts.segment_return_curves"
FOLLOW_UP = "intermediate.int_patients_followed_for_return"
PRIMARY_ASSUMPTION = "earliest"
ASSUMPTIONS = ("earliest", "midpoint", "latest")
OVERALL = "overall"
# scipy.stats.norm.ppf(0.975), as in the SQL macro normal_quantile_95()
Z_95 = 1.959963984540054
# statsmodels' outcome codes: 0 censored, 1 the event of interest, 2 the competing event
STATUS = {"censored": 0, "return": 1, "death": 2}
COUNT_COLUMNS = ("num_patients_indexed", "num_at_risk", "num_returned", "num_died", "num_censored")
ESTIMATE_COLUMNS = tuple(
    f"{estimate}{suffix}"
    for estimate in (
        "cumulative_incidence_return",
        "cumulative_incidence_death",
        "km_return_probability_death_censored",
    )
    for suffix in ("", "_se", "_lower", "_upper")
)
KEY = ["end_of_data_assumption", "segment_key", "follow_up_day"]
# the days the report's table and the validation report quote
MILESTONE_DAYS = (30, 90, 180, 365)
# the days each segment's panel of the figure quotes
PANEL_DAYS = (30, 90, 365)


def read_curves(connection: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """The mart, ordered by assumption, segment and day."""
    return connection.execute(
        f"select * from {MART} order by end_of_data_assumption, segment_key, follow_up_day"
    ).df()


def read_follow_up(connection: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """The followed patients (one row per patient and assumption) with their segment."""
    return connection.execute(
        "select followed.subject_id, followed.end_of_data_assumption, followed.outcome,"
        " followed.follow_up_days, segments.segment_key"
        f" from {FOLLOW_UP} as followed"
        " inner join marts.patient_segments as segments on followed.subject_id = segments.subject_id"
        " where followed.outcome <> 'not_followed'"
    ).df()


def loglog_interval(p: np.ndarray, se: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The 95 % log(-log) interval of probabilities ``p`` with standard errors ``se``, with the
    SQL macro's conventions: NaN where se is NaN, else the point itself where p is 0 or 1."""
    p, se = np.asarray(p, dtype=float), np.asarray(se, dtype=float)
    inside = (p > 0) & (p < 1) & ~np.isnan(se)
    safe = np.where(inside, p, 0.5)
    w = Z_95 * np.where(inside, se, 0.0) / (safe * np.log(safe))
    lower = np.where(inside, safe ** np.exp(-w), p)
    upper = np.where(inside, safe ** np.exp(w), p)
    undefined = np.isnan(se)
    return np.where(undefined, np.nan, lower), np.where(undefined, np.nan, upper)


def _step(times: np.ndarray, values: np.ndarray, days: np.ndarray, before: float) -> np.ndarray:
    """A right-continuous step function known at ``times``, read on ``days``."""
    position = np.searchsorted(times, days, side="right") - 1
    if len(times) == 0:
        return np.full(len(days), before, dtype=float)
    return np.where(position >= 0, np.asarray(values, dtype=float)[np.clip(position, 0, None)], before)


def _one_curve(time: np.ndarray, status: np.ndarray, days: np.ndarray) -> dict[str, np.ndarray]:
    from statsmodels.duration.survfunc import CumIncidenceRight, SurvfuncRight

    # a day that leaves no one at risk makes a variance undefined: NaN, as intended, unwarned
    with np.errstate(divide="ignore", invalid="ignore"):
        return _statsmodels_curve(time, status, days, SurvfuncRight, CumIncidenceRight)


def _statsmodels_curve(
    time: np.ndarray, status: np.ndarray, days: np.ndarray, survfunc: type, cumincidence: type
) -> dict[str, np.ndarray]:
    km = survfunc(time, (status == STATUS["return"]).astype(float))
    survival = _step(km.surv_times, km.surv_prob, days, before=1.0)
    survival_se = _step(km.surv_times, km.surv_prob_se, days, before=0.0)
    out: dict[str, np.ndarray] = {
        "num_patients_indexed": np.full(len(days), len(time)),
        "num_at_risk": len(time) - np.searchsorted(np.sort(time), days, side="left"),
    }
    for outcome, column in (("return", "num_returned"), ("death", "num_died"), ("censored", "num_censored")):
        on_day = time[status == STATUS[outcome]].astype(int)
        out[column] = np.bincount(on_day, minlength=len(days))[: len(days)]
    # statsmodels estimates one curve per cause code up to the largest code present: code the
    # causes so that the largest is present, and it estimates both (a cause without events
    # then gets statsmodels' own zero curve and variance)
    codes = {"return": 1, "death": 2} if (status == STATUS["death"]).any() else {"death": 1, "return": 2}
    recoded = np.select(
        [status == STATUS["return"], status == STATUS["death"]], [codes["return"], codes["death"]], 0
    )
    incidence = cumincidence(time, recoded)
    for cause in ("return", "death"):
        column = f"cumulative_incidence_{cause}"
        k = codes[cause] - 1
        if k < len(incidence.cinc):
            out[column] = _step(incidence.times, incidence.cinc[k], days, before=0.0)
            out[f"{column}_se"] = _step(incidence.times, incidence.cinc_se[k], days, before=0.0)
        else:  # every patient censored: no cause at all, both incidences 0 throughout
            out[column] = np.zeros(len(days))
            out[f"{column}_se"] = np.zeros(len(days))
        out[f"{column}_lower"], out[f"{column}_upper"] = loglog_interval(out[column], out[f"{column}_se"])
    column = "km_return_probability_death_censored"
    out[column] = 1 - survival
    out[f"{column}_se"] = survival_se
    survival_lower, survival_upper = loglog_interval(survival, survival_se)
    out[f"{column}_lower"], out[f"{column}_upper"] = 1 - survival_upper, 1 - survival_lower
    return out


def reference_curves(follow_up: pd.DataFrame, horizon_days: int) -> pd.DataFrame:
    """The curves recomputed with statsmodels from the per-patient follow-up (columns
    ``end_of_data_assumption``, ``segment_key``, ``outcome``, ``follow_up_days``): per
    assumption, per segment and for all patients (``overall``), on days 0 to the horizon."""
    days = np.arange(horizon_days + 1)
    groups = pd.concat([follow_up, follow_up.assign(segment_key=OVERALL)], ignore_index=True)
    frames = []
    for (assumption, segment_key), group in groups.groupby(["end_of_data_assumption", "segment_key"]):
        time = group["follow_up_days"].to_numpy(dtype=float)
        status = group["outcome"].map(STATUS).to_numpy(dtype=int)
        curve = pd.DataFrame(_one_curve(time, status, days))
        curve.insert(0, "follow_up_day", days)
        curve.insert(0, "segment_key", segment_key)
        curve.insert(0, "end_of_data_assumption", assumption)
        frames.append(curve)
    return pd.concat(frames, ignore_index=True)


@dataclass(frozen=True)
class Comparison:
    """The mart next to statsmodels: the largest absolute difference of each estimate column,
    the count columns that differ, and the cells where one side is NULL and the other not."""

    curves: int
    rows: int
    max_abs_difference: dict[str, float]
    count_mismatches: dict[str, int]
    null_mismatches: dict[str, int]
    missing_curves: list[tuple[str, str]]

    @property
    def largest(self) -> float:
        return max(self.max_abs_difference.values(), default=0.0)

    def agrees(self, tolerance: float = 1e-9) -> bool:
        return (
            self.largest <= tolerance
            and not any(self.count_mismatches.values())
            and not any(self.null_mismatches.values())
            and not self.missing_curves
        )


def compare(mart: pd.DataFrame, reference: pd.DataFrame) -> Comparison:
    """Match the mart and the reference on (assumption, segment, day) and measure them."""
    merged = mart.merge(reference, on=KEY, how="outer", suffixes=("", "_reference"), indicator=True)
    unmatched = merged[merged["_merge"] != "both"]
    missing = sorted({(r.end_of_data_assumption, r.segment_key) for r in unmatched.itertuples()})
    both = merged[merged["_merge"] == "both"]
    differences, nulls = {}, {}
    for column in ESTIMATE_COLUMNS:
        ours = both[column].to_numpy(dtype=float)
        theirs = both[f"{column}_reference"].to_numpy(dtype=float)
        nulls[column] = int((np.isnan(ours) != np.isnan(theirs)).sum())
        finite = ~np.isnan(ours) & ~np.isnan(theirs)
        differences[column] = float(np.abs(ours[finite] - theirs[finite]).max()) if finite.any() else 0.0
    counts = {
        column: int((both[column].to_numpy() != both[f"{column}_reference"].to_numpy()).sum())
        for column in COUNT_COLUMNS
    }
    return Comparison(
        curves=both.groupby(["end_of_data_assumption", "segment_key"]).ngroups,
        rows=len(both),
        max_abs_difference=differences,
        count_mismatches=counts,
        null_mismatches=nulls,
        missing_curves=missing,
    )


def compare_with_statsmodels(connection: duckdb.DuckDBPyConnection) -> Comparison:
    """The built mart against statsmodels on the same database's follow-up."""
    mart = read_curves(connection)
    horizon = int(mart["follow_up_day"].max())
    return compare(mart, reference_curves(read_follow_up(connection), horizon))


def milestones(curves: pd.DataFrame, days: Sequence[int] = MILESTONE_DAYS) -> pd.DataFrame:
    """One row per assumption and segment: patients, and the estimates on the given days."""
    picked = curves[curves["follow_up_day"].isin(days)]
    rows = []
    for (assumption, segment_key), curve in picked.groupby(
        ["end_of_data_assumption", "segment_key"], sort=False
    ):
        by_day = curve.set_index("follow_up_day")
        row: dict[str, object] = {
            "end_of_data_assumption": assumption,
            "segment_key": segment_key,
            "segment_name": by_day["segment_name"].iloc[0],
            "num_patients_indexed": int(by_day["num_patients_indexed"].iloc[0]),
            "returned": int(by_day["num_returned_cumulative"].max()),
            "died": int(by_day["num_died_cumulative"].max()),
            "censored": int(by_day["num_censored_cumulative"].max()),
        }
        for day in days:
            if day in by_day.index:
                for column in (
                    "cumulative_incidence_return",
                    "cumulative_incidence_return_lower",
                    "cumulative_incidence_return_upper",
                    "cumulative_incidence_death",
                    "km_return_probability_death_censored",
                    "num_at_risk",
                ):
                    row[f"{column}_{day}"] = by_day.loc[day, column]
        rows.append(row)
    return pd.DataFrame(rows)


# --- figure -----------------------------------------------------------------------------


def _ordered_keys(curves: pd.DataFrame, segment_order: Sequence[str]) -> list[str]:
    present = list(dict.fromkeys(curves["segment_key"]))
    keys = [key for key in segment_order if key in present]
    keys += [key for key in present if key not in keys and key != OVERALL]
    return [*keys, OVERALL] if OVERALL in present else keys


def _step_with_band(ax: object, curve: pd.DataFrame, colour: str, band_alpha: float, **line: object) -> None:
    """The Aalen-Johansen curve of return as a step function, its 95 % interval shaded."""
    ax.step(curve["follow_up_day"], curve["cumulative_incidence_return"], where="post", color=colour, **line)
    ax.fill_between(
        curve["follow_up_day"],
        curve["cumulative_incidence_return_lower"].astype(float),
        curve["cumulative_incidence_return_upper"].astype(float),
        step="post",
        color=colour,
        alpha=band_alpha,
        linewidth=0,
    )


def _milestone_text(curve: pd.DataFrame, days: Sequence[int]) -> str:
    """``back by day 30: 12 %`` lines of a curve, for the days its follow-up reaches."""
    by_day = curve.set_index("follow_up_day")["cumulative_incidence_return"]
    lines = [f"day {day}: {100 * float(by_day[day]):.0f} %" for day in days if day in by_day.index]
    return "Back in hospital by\n" + "\n".join(lines) if lines else ""


def figure_return_curves(
    curves: pd.DataFrame,
    colours: dict[str, str],
    segment_order: Sequence[str],
    labels: dict[str, str],
    reference_colour: str = "#9A9A9A",
    days: Sequence[int] = PANEL_DAYS,
) -> Figure:
    """One panel per segment (in ``segment_order``, titled by ``labels``), all on the same axes:
    the segment's Aalen-Johansen curve of return (primary assumption) as a step plot with its
    95 % band, all patients' curve in grey behind it, and the segment's share back by each of
    ``days``."""
    primary = curves[curves["end_of_data_assumption"] == PRIMARY_ASSUMPTION]
    keys = [key for key in _ordered_keys(primary, segment_order) if key != OVERALL]
    columns = 2 if len(keys) <= 4 else 3
    rows = max(1, -(-len(keys) // columns))
    fig = Figure(figsize=(5.2 * columns, 3.7 * rows + 1.3), layout="constrained")
    panels = list(fig.subplots(rows, columns, sharex=True, sharey=True, squeeze=False).flat)
    overall = primary[primary["segment_key"] == OVERALL].sort_values("follow_up_day")
    top = float(np.nanmax(primary["cumulative_incidence_return_upper"].astype(float).to_numpy(), initial=0.0))
    for ax, key in zip(panels, keys, strict=False):
        curve = primary[primary["segment_key"] == key].sort_values("follow_up_day")
        if not overall.empty:
            ax.step(
                overall["follow_up_day"],
                overall["cumulative_incidence_return"],
                where="post",
                color=reference_colour,
                linewidth=1.6,
            )
        _step_with_band(ax, curve, colours.get(key, "#8C8C8C"), 0.18, linewidth=2.2)
        patients = int(curve["num_patients_indexed"].iloc[0])
        ax.set_title(
            f"{textwrap.fill(labels.get(key, key), 56)}\n{patients:,} patients", loc="left", fontsize=10.5
        )
        ax.text(
            0.03,
            0.97,
            _milestone_text(curve, days),
            transform=ax.transAxes,
            va="top",
            fontsize=9.5,
            bbox={"facecolor": "white", "edgecolor": "#DDDDDD", "alpha": 0.9},
        )
        ax.grid(alpha=0.25)
        ax.spines[["top", "right"]].set_visible(False)
    for ax in panels[len(keys) :]:
        fig.delaxes(ax)
    for position, ax in enumerate(panels[: len(keys)]):
        if position + columns >= len(keys):  # no panel below: this one carries the day axis
            ax.xaxis.set_tick_params(labelbottom=True)
            ax.set_xlabel("Days since the first discharge alive")
    first = fig.axes[0] if fig.axes else fig.add_subplot()
    first.set_xlim(0, int(curves["follow_up_day"].max()))
    first.set_ylim(0, min(1.0, max(0.05, 1.05 * top)))
    first.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0, decimals=0))
    fig.supylabel("Share back in hospital (death competing)")
    fig.legend(
        [
            Line2D([], [], color="#444444", linewidth=2.2),
            Patch(color="#444444", alpha=0.18, linewidth=0),
            Line2D([], [], color=reference_colour, linewidth=1.6),
        ],
        ["The segment", "its 95 % band", "All patients, for reference"],
        loc="outside lower center",
        ncols=3,
        fontsize=9.5,
        frameon=False,
    )
    fig.suptitle(
        "Returned to hospital by day t after the first discharge alive, per segment",
        fontsize=13,
        fontweight="bold",
        x=0.01,
        ha="left",
    )
    return fig


def figure_return_overall(curves: pd.DataFrame, colour: str = "#000000") -> Figure:
    """All patients: the Aalen-Johansen curve of return (primary assumption) with its band, beside
    1 - Kaplan-Meier with deaths censored, the incidence of death, and the curve of return under
    the other end-of-data assumptions."""
    fig = Figure(figsize=(9, 5.6), layout="constrained")
    ax = fig.add_subplot()
    overall = curves[curves["segment_key"] == OVERALL]
    main = overall[overall["end_of_data_assumption"] == PRIMARY_ASSUMPTION].sort_values("follow_up_day")
    _step_with_band(ax, main, colour, 0.12, linewidth=2.2, label="Return, death competing (Aalen-Johansen)")
    others = [
        (
            "km_return_probability_death_censored",
            "#D55E00",
            ":",
            "1 - Kaplan-Meier, deaths censored (overstates)",
        ),
        ("cumulative_incidence_death", "#8C8C8C", "-", "Death before any return (Aalen-Johansen)"),
    ]
    for column, line_colour, style, label in others:
        ax.step(
            main["follow_up_day"],
            main[column],
            where="post",
            color=line_colour,
            linewidth=1.6,
            linestyle=style,
            label=label,
        )
    for assumption, style in (("midpoint", (0, (4, 2))), ("latest", (0, (1, 2)))):
        other = overall[overall["end_of_data_assumption"] == assumption].sort_values("follow_up_day")
        ax.step(
            other["follow_up_day"],
            other["cumulative_incidence_return"],
            where="post",
            color="#0072B2",
            linewidth=1.2,
            linestyle=style,
            label=f"Return, end of data at its {assumption} estimate",
        )
    ax.set_title("All patients: estimator and end of data", loc="left", fontsize=12, fontweight="bold")
    ax.set_ylabel("Probability")
    ax.set_xlabel("Days since the first discharge alive")
    ax.set_xlim(0, int(curves["follow_up_day"].max()))
    ax.set_ylim(0, None)
    ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0, decimals=0))
    ax.legend(loc="upper left", fontsize=9, frameon=False)
    ax.grid(alpha=0.25)
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def milestone_rows(
    curves: pd.DataFrame, segment_order: Sequence[str], days: Sequence[int] = MILESTONE_DAYS
) -> pd.DataFrame:
    """The primary assumption's ``milestones`` on ``days``, one row per segment: those of
    ``segment_order`` in that order, then any other, then all patients."""
    table = milestones(curves[curves["end_of_data_assumption"] == PRIMARY_ASSUMPTION], days)
    table = table.set_index("segment_key")
    return table.loc[_ordered_keys(table.reset_index(), segment_order)].reset_index()
