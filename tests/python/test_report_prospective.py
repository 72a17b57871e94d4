"""The report's prospective-validation section, on a hand-built segment_prospective_outcomes."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mimic_segments.reporting import discrimination, prospective, validation
from mimic_segments.reporting.prospective import top_group
from mimic_segments.reporting.report_html import prospective_section
from mimic_segments.reporting.report_text import concentration_sentence


def outcomes() -> pd.DataFrame:
    rows = [
        # grouping, key, label, outcome, n, share of patients, mean, lift, share of outcome
        ("segment", "cluster_0", "Frequent flyers", "bed_days", 20, 0.2, 12.0, 3.0, 0.6),
        ("segment", "cluster_1", "Healthy", "bed_days", 80, 0.8, 2.0, 0.5, 0.4),
        (
            "prior_year_admissions",
            "1",
            "1 admission(s) in the prior year",
            "bed_days",
            70,
            0.7,
            3.0,
            0.75,
            0.525,
        ),
        (
            "prior_year_admissions",
            "3+",
            "3+ admission(s) in the prior year",
            "bed_days",
            30,
            0.3,
            6.33,
            1.58,
            0.475,
        ),
    ]
    frame = pd.DataFrame(
        rows,
        columns=[
            "group_type",
            "group_key",
            "group_label",
            "outcome",
            "num_patients",
            "share_of_patients",
            "mean_outcome",
            "lift",
            "share_of_outcome",
        ],
    )
    frame["ci_lower"] = frame["mean_outcome"] - 1.0
    frame["ci_upper"] = frame["mean_outcome"] + 1.0
    # every group's mean over the same 100 patients: 400 bed-days in all, 4.0 per patient
    frame["population_mean"] = 4.0
    frame["outcome_total"] = frame["num_patients"] * frame["mean_outcome"]
    return frame


def test_the_top_group_is_the_highest_mean() -> None:
    top = top_group(outcomes(), "segment", "bed_days")
    assert top is not None and top["group_key"] == "cluster_0"
    assert top_group(outcomes(), "segment", "died") is None


def test_the_concentration_sentence_names_shares_and_lift() -> None:
    sentence = concentration_sentence(outcomes(), "segment", "bed_days")
    assert sentence == (
        "The top segment (Frequent flyers) holds 20% of the followed-up patients and accounts for 60% "
        "of their next-year bed-days (lift 3.00)."
    )
    assert "The top baseline group (3+ admission(s) in the prior year) holds 30%" in concentration_sentence(
        outcomes(), "prior_year_admissions", "bed_days"
    )


def test_the_section_shows_segments_and_baseline_or_nothing_without_the_mart() -> None:
    section = prospective_section(outcomes())
    assert "Do the segments predict next year?" in section
    assert "for the 100 patients followed up" in section
    assert "Baseline: prior-year admissions" in section and "12.00 (11.00 to 13.00)" in section
    # gains curves: segments (0, 0) (0.2, 0.6) (1, 1), baseline (0, 0) (0.3, 0.475) (1, 1)
    assert "Concentration index: segments 0.40, baseline 0.18." in section
    assert prospective_section(pd.DataFrame()) == ""


def test_the_concentration_index_is_twice_the_area_above_the_diagonal() -> None:
    rows = prospective.rows_of(outcomes(), "segment", "bed_days")
    x, y = prospective.gains_curve(rows)
    assert list(x) == [0.0, 0.2, 1.0] and list(y) == [0.0, 0.6, 1.0]
    # area under (0,0)-(0.2,0.6)-(1,1): 0.06 + 0.64 = 0.70
    assert abs(prospective.concentration_index(rows) - 0.40) < 1e-12
    # a grouping that separates no one: every group's share of the outcome is its share of patients
    flat = rows.assign(share_of_outcome=rows["share_of_patients"])
    assert abs(prospective.concentration_index(flat)) < 1e-12
    # an outcome that never happened has nothing to concentrate
    assert np.isnan(prospective.concentration_index(rows.assign(outcome_total=0.0, share_of_outcome=None)))


def test_the_summary_puts_segments_and_baseline_side_by_side() -> None:
    summary = {(item.outcome, item.grouping): item for item in prospective.summarise(outcomes())}
    assert set(summary) == {("bed_days", "segment"), ("bed_days", "prior_year_admissions")}
    top = summary[("bed_days", "segment")]
    assert (top.top_label, top.groups, top.top_lift) == ("Frequent flyers", 2, 3.0)
    # the lift's interval is the mean's over the population mean: (11, 13) / 4
    assert (top.top_ci_lower, top.top_ci_upper) == (2.75, 3.25)
    assert abs(summary[("bed_days", "prior_year_admissions")].concentration_index - 0.175) < 1e-12


def test_the_figure_draws_lift_and_gains_per_outcome() -> None:
    figure = prospective.figure_lift_and_concentration(outcomes(), {"cluster_0": "#E69F00"})
    lift, gains = figure.axes
    # four groups (two segments, two baseline groups) as bars; two gains curves and the diagonal
    assert len(lift.patches) == 4 and lift.get_yticklabels()[0].get_text() == "Frequent flyers"
    assert len(gains.lines) == 3


def test_the_validation_report_compares_segments_with_the_baseline() -> None:
    lines = validation.render_prospective(outcomes())
    text = "\n".join(lines)
    assert "### Do the segments predict next year? (prospective validation)" in text
    assert "100 patients have that year of follow-up" in text
    assert (
        "| bed-days | segments | 2 | 0.400 | Frequent flyers | 20.0 % | 60.0 % | 3.00 (2.75 to 3.25) |"
        in text
    )
    assert "| `cluster_0` Frequent flyers | 20 | - | 12.00 (11.00 to 13.00) | - | - | - |" in text
    assert "Higher concentration index: the segments for bed-days." in text
    assert validation.render_prospective(None) == [] and validation.render_prospective(pd.DataFrame()) == []


def comparison() -> pd.DataFrame:
    """segment_prospective_comparison for two groupings and two outcomes, by hand."""
    rows = [
        ("segment", "segments", "bed_days", False, 0.40, None, None, None, None, True, False),
        (
            "prior_year_admissions",
            "prior-year admissions",
            "bed_days",
            False,
            0.18,
            None,
            None,
            None,
            None,
            False,
            False,
        ),
        ("segment", "segments", "died", True, 0.30, 5, 0.61, 0.55, 0.67, False, False),
        ("lace_band", "LACE bands", "died", True, 0.35, 5, 0.70, 0.66, 0.74, True, True),
    ]
    frame = pd.DataFrame(
        rows,
        columns=[
            "grouping",
            "grouping_label",
            "outcome",
            "is_binary_outcome",
            "concentration_index",
            "num_positive",
            "auc",
            "auc_ci_lower",
            "auc_ci_upper",
            "is_best_concentration",
            "is_best_auc",
        ],
    )
    frame["outcome_label"] = frame["outcome"].map(discrimination.OUTCOME_LABELS)
    frame["num_groups"] = 2
    frame["num_patients"] = 100
    frame["bootstrap_resamples"] = [None, None, 1000, 1000]
    frame["bootstrap_seed"] = [None, None, 29, 29]
    return frame


def test_the_section_compares_segments_lace_and_baseline_when_the_comparison_is_built() -> None:
    section = prospective_section(outcomes(), comparison=comparison())
    assert "Segments, LACE, segment with LACE, prior admissions: which predicts next year?" in section
    assert (
        "Next-year deaths: best concentrated by LACE bands (concentration index 0.350; next, segments "
        "0.300), best discriminated by LACE bands (AUC 0.700, 95 % interval 0.660 to 0.740; next, "
        "segments 0.610, whose interval overlaps it)."
    ) in section
    assert (
        "<td>deaths</td><td>LACE bands</td><td class='num'>0.350</td>"
        "<td class='num'>0.700 (0.660 to 0.740)</td>" in section
    )
    # without the comparison mart, no comparison
    assert "which predicts next year?" not in prospective_section(outcomes())


def test_the_validation_report_compares_the_four_groupings() -> None:
    text = "\n".join(validation.render_comparison(comparison()))
    assert "#### Segments, LACE, segment with LACE and prior admissions compared" in text
    assert "1,000 stratified bootstrap resamples (seed 29)" in text
    assert "| deaths | LACE bands | 2 | **0.350** | 5 | **0.700 (0.660 to 0.740)** |" in text
    assert "| bed-days | segments | 2 | **0.400** | - | - |" in text
    assert "- Next-year bed-days: best concentrated by segments (concentration index 0.400; next, " in text
    assert validation.render_comparison(None) == [] and validation.render_comparison(pd.DataFrame()) == []


def test_the_validation_report_gives_the_early_readmission_rate_in_both_modes() -> None:
    text = "\n".join(validation.render_readmissions({"inpatient": (217, 44), "all_stays": (250, 55)}))
    assert "| `inpatient` | 217 | 44 | 20.3 % |" in text
    assert "| `all_stays` | 250 | 55 | 22.0 % |" in text
    assert "Counting every stay changes the rate by +1.7 percentage points (20.3 % to 22.0 %)." in text
    assert validation.render_readmissions({}) == []
