"""The report's prospective-validation section, on a hand-built segment_prospective_outcomes."""

from __future__ import annotations

import pandas as pd

from mimic_segments.reporting.report import concentration_sentence, prospective_section, top_group


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
    assert prospective_section(pd.DataFrame()) == ""
