"""The prospective comparison's pure Python: the C-statistic and its bootstrap interval, the
comparison table and its sentences, on hand-built patients (mimic_segments.reporting.discrimination)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from mimic_segments.reporting import discrimination, prospective


def test_the_auc_is_the_share_of_correctly_ranked_pairs_ties_half() -> None:
    # positives score 2 and 3, negatives 1 and 2: pairs (2,1) 1, (2,2) 0.5, (3,1) 1, (3,2) 1
    assert discrimination.auc([0, 0, 1, 1], [1, 2, 2, 3]) == 3.5 / 4
    # a score that ranks every positive below every negative
    assert discrimination.auc([1, 1, 0, 0], [1, 2, 3, 4]) == 0.0
    # one class only: no pair to rank
    assert math.isnan(discrimination.auc([0, 0, 0], [1, 2, 3]))
    assert math.isnan(discrimination.auc([], []))


def test_the_interval_is_deterministic_and_holds_the_estimate() -> None:
    rng = np.random.default_rng(7)
    outcome = rng.integers(0, 2, 200)
    score = outcome + rng.normal(0, 1.0, 200)
    first = discrimination.auc_interval(outcome, score, resamples=300, seed=29)
    assert first == discrimination.auc_interval(outcome, score, resamples=300, seed=29)
    assert first != discrimination.auc_interval(outcome, score, resamples=300, seed=30)
    estimate = discrimination.auc(outcome, score)
    assert first[0] < estimate < first[1]
    # about +/- 1.96 standard errors: Hanley and McNeil's at these counts is near 0.03
    assert 0.05 < first[1] - first[0] < 0.2


def test_the_stratified_bootstrap_keeps_each_class_at_its_size() -> None:
    # one positive and one negative: every resample is the same pair, the interval a point
    assert discrimination.auc_interval([1, 0], [5, 3], resamples=50) == (1.0, 1.0)
    # every score equal: every resample ranks at chance
    assert discrimination.auc_interval([1, 0, 1, 0, 0], [2, 2, 2, 2, 2], resamples=50) == (0.5, 0.5)
    # perfectly separated: so is every resample
    assert discrimination.auc_interval([0, 0, 1, 1, 1], [1, 2, 3, 4, 5], resamples=50) == (1.0, 1.0)
    lower, upper = discrimination.auc_interval([0, 0, 0], [1, 2, 3])
    assert math.isnan(lower) and math.isnan(upper)


def test_the_interval_is_the_percentiles_of_the_resampled_aucs() -> None:
    """Recomputed here resample by resample, each expanded to its patients: the positives' and
    then the negatives' counts per distinct score, drawn from the same generator, scored by
    roc_auc_score without weights."""
    outcome = np.array([1, 0, 1, 0, 0, 1, 0, 0])
    score = np.array([3.0, 1.0, 2.0, 2.0, 0.0, 1.0, 4.0, 1.0])
    positives, negatives = score[outcome == 1], score[outcome == 0]
    rng = np.random.default_rng(11)
    (p_values, p_counts), (n_values, n_counts) = (
        np.unique(positives, return_counts=True),
        np.unique(negatives, return_counts=True),
    )
    aucs = []
    for _ in range(40):
        drawn_p = rng.multinomial(positives.size, p_counts / positives.size)
        drawn_n = rng.multinomial(negatives.size, n_counts / negatives.size)
        expanded = np.r_[np.repeat(p_values, drawn_p), np.repeat(n_values, drawn_n)]
        labels = np.r_[np.ones(positives.size), np.zeros(negatives.size)]
        aucs.append(roc_auc_score(labels, expanded))
    expected = tuple(np.quantile(aucs, [0.025, 0.975]))
    assert discrimination.auc_interval(outcome, score, resamples=40, seed=11) == pytest.approx(
        expected, abs=1e-12
    )


def test_a_large_bootstrap_is_quick_and_centred_on_the_estimate() -> None:
    """364,627 patients' worth of an ordinal score with few values: the interval holds the AUC."""
    rng = np.random.default_rng(3)
    score = rng.integers(-1, 20, 364_627)
    outcome = (rng.random(364_627) < 0.02 + 0.01 * np.clip(score, 0, None)).astype(int)
    estimate = discrimination.auc(outcome, score)
    lower, upper = discrimination.auc_interval(outcome, score, resamples=200)
    assert lower < estimate < upper and upper - lower < 0.02


def patients() -> pd.DataFrame:
    """Eight followed-up patients: two segments (priority 1 and 3), LACE, prior admissions."""
    return pd.DataFrame(
        {
            "subject_id": range(1, 9),
            "segment_key": ["a", "a", "a", "a", "b", "b", "b", "b"],
            "ordinal_score_segment": [-1, -1, -1, -1, -3, -3, -3, -3],
            "ordinal_score_lace_band": [14, 12, 4, 6, 11, 3, -1, 2],
            "ordinal_score_segment_lace_band": [-7, -9, -17, -15, -52, -60, -64, -61],
            "ordinal_score_prior_year_admissions": [3, 1, 1, 2, 1, 1, 1, 1],
            "bed_days": [10.0, 0.0, 5.0, 5.0, 0.0, 0.0, 0.0, 0.0],
            "died": [1, 0, 0, 0, 1, 0, 0, 0],
        }
    )


def grouped(frame: pd.DataFrame) -> pd.DataFrame:
    """segment_prospective_outcomes for the hand-built patients: segment and prior-year groups."""
    rows = []
    total = len(frame)
    groups = {
        "segment": frame["segment_key"],
        "lace_band": np.where(frame["ordinal_score_lace_band"] >= 10, "high", "low"),
        "segment_lace_band": frame["segment_key"]
        + np.where(frame["ordinal_score_lace_band"] >= 10, ":high", ":low"),
        "prior_year_admissions": frame["ordinal_score_prior_year_admissions"].astype(str),
    }
    for grouping, keys in groups.items():
        for outcome in ("bed_days", "died"):
            population = frame[outcome].sum()
            for key, group in frame.groupby(keys):
                rows.append(
                    {
                        "group_type": grouping,
                        "group_key": key,
                        "group_label": key,
                        "outcome": outcome,
                        "num_patients": len(group),
                        "share_of_patients": len(group) / total,
                        "mean_outcome": group[outcome].mean(),
                        "outcome_total": group[outcome].sum(),
                        "share_of_outcome": group[outcome].sum() / population if population else None,
                        "population_mean": population / total,
                    }
                )
    return pd.DataFrame(rows)


def test_the_comparison_puts_every_grouping_side_by_side() -> None:
    table = discrimination.compare(grouped(patients()), patients(), resamples=100)
    assert list(table.columns) == list(discrimination.COLUMNS)
    assert len(table) == 8 and set(table["grouping"]) == set(discrimination.GROUPING_LABELS)
    by = table.set_index(["outcome", "grouping"])
    # the concentration index is the report's, from the grouped rows
    rows = prospective.rows_of(grouped(patients()), "segment", "bed_days")
    assert by.loc[("bed_days", "segment"), "concentration_index"] == prospective.concentration_index(rows)
    # segment a holds all 20 bed-days with half the patients: index 0.5
    assert by.loc[("bed_days", "segment"), "concentration_index"] == pytest.approx(0.5)
    # bed-days is a count: no AUC, no bootstrap
    assert by.loc[("bed_days", "segment"), ["auc", "auc_ci_lower", "auc_ci_upper"]].isna().all()
    assert pd.isna(by.loc[("bed_days", "segment"), "num_positive"])
    # death: 2 of 8; LACE ranks the deaths 1st (14) and 3rd (11) of 8: 11 of 12 pairs
    died = by.loc[("died", "lace_band")]
    assert died["num_positive"] == 2 and died["auc"] == pytest.approx(11 / 12, abs=1e-15)
    assert died["auc_ci_lower"] <= died["auc"] <= died["auc_ci_upper"]
    # segments: one death in each segment, ties within: (1 * 3 + 0.5 * 3 + ...) = 0.5
    assert by.loc[("died", "segment"), "auc"] == 0.5
    assert by.loc[("died", "lace_band"), "is_best_auc"]
    assert not by.loc[("died", "segment"), "is_best_auc"]
    assert table.groupby("outcome")["is_best_concentration"].sum().ge(1).all()
    assert (table.loc[table["is_binary_outcome"], "bootstrap_seed"] == discrimination.SEED).all()
    # the same data, the same table
    pd.testing.assert_frame_equal(
        table, discrimination.compare(grouped(patients()), patients(), resamples=100)
    )


def test_the_sentences_name_the_best_grouping_per_outcome() -> None:
    table = discrimination.compare(grouped(patients()), patients(), resamples=100)
    sentences = discrimination.verdict_sentences(table)
    assert len(sentences) == 2
    died = next(sentence for sentence in sentences if sentence.startswith("Next-year deaths"))
    best = table[(table["outcome"] == "died") & table["is_best_auc"]].iloc[0]
    assert "best discriminated by LACE bands (AUC 0.917, 95 % interval" in died
    assert f"{best['auc_ci_lower']:.3f} to {best['auc_ci_upper']:.3f}" in died
    bed_days = next(sentence for sentence in sentences if sentence.startswith("Next-year bed-days"))
    assert (
        "best concentrated by prior-year admissions (concentration index 0.531" in bed_days
        and "AUC" not in bed_days
    )


def test_an_outcome_that_never_happened_is_said_so() -> None:
    frame = patients().assign(died=0)
    table = discrimination.compare(grouped(frame), frame, resamples=10)
    assert table.loc[table["outcome"] == "died", "auc"].isna().all()
    assert not table.loc[table["outcome"] == "died", "is_best_auc"].any()
    assert "Next-year deaths: it never happened, so no grouping concentrates it." in (
        discrimination.verdict_sentences(table)
    )


def test_the_comparison_figure_draws_both_measures() -> None:
    table = discrimination.compare(grouped(patients()), patients(), resamples=20)
    figure = discrimination.figure_comparison(table)
    concentration, auc = figure.axes
    # four groupings x two outcomes as bars; one error bar per grouping on the binary outcome
    assert len(concentration.patches) == 8
    assert len(auc.containers) == 4
