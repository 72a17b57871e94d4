"""Return-to-hospital curves (marts.segment_return_curves) against an independent implementation.

The mart computes Aalen-Johansen, Kaplan-Meier, their variances and intervals in SQL; here
statsmodels' SurvfuncRight and CumIncidenceRight recompute them from the per-patient follow-up
and the two must agree to 1e-9 on every day of every curve: on the demo build, on the same SQL
run over synthetic follow-ups built to hit the edge cases (ties of every kind, a risk set
exhausted by events, a segment with no deaths or no returns, tiny segments), and, in
test_release_mode.py, on a generated release. The facts the curves rest on (who is indexed,
how many returned, died or were censored) are counted again from the staging tables.
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from mimic_segments.reporting import return_curves

pytestmark = pytest.mark.e2e

TOLERANCE = 1e-9
HORIZON = 365


def assert_agrees(comparison: return_curves.Comparison) -> None:
    assert comparison.missing_curves == []
    assert comparison.count_mismatches == dict.fromkeys(return_curves.COUNT_COLUMNS, 0)
    assert comparison.null_mismatches == dict.fromkeys(return_curves.ESTIMATE_COLUMNS, 0)
    assert comparison.largest <= TOLERANCE, comparison.max_abs_difference


def test_demo_curves_match_statsmodels_for_every_segment_and_overall(db: duckdb.DuckDBPyConnection) -> None:
    comparison = return_curves.compare_with_statsmodels(db)
    assert_agrees(comparison)
    segments = {row[0] for row in db.execute("select segment_key from marts.segments").fetchall()}
    # the demo's 4 clustered segments and all patients, under each of the 3 assumptions
    assert comparison.curves == 3 * (len(segments) + 1) == 15
    assert comparison.rows == comparison.curves * (HORIZON + 1)


def test_demo_index_population_is_every_patient_discharged_alive(db: duckdb.DuckDBPyConnection) -> None:
    # independent of episodes: a patient with an admission that did not end in death (the demo
    # has no overlapping stays, so each such admission closes an episode alive)
    discharged_alive = db.execute(
        "select count(distinct subject_id) from staging.stg_mimic__admissions where not is_hospital_death"
    ).fetchone()[0]
    assert db.execute("select count(*) from intermediate.int_patients_indexed_for_return").fetchone() == (
        discharged_alive,
    )
    day0 = db.execute(
        "select segment_key, num_patients_indexed, num_at_risk from marts.segment_return_curves"
        " where follow_up_day = 0 and is_primary_assumption"
    ).df()
    overall = day0.set_index("segment_key").loc[return_curves.OVERALL]
    assert overall["num_patients_indexed"] == overall["num_at_risk"] == discharged_alive
    assert day0.query("segment_key != 'overall'")["num_patients_indexed"].sum() == discharged_alive


def test_demo_returns_and_deaths_are_counted_from_the_admissions(db: duckdb.DuckDBPyConnection) -> None:
    """Returns within a year of the first inpatient hospitalization left alive, and deaths before
    any return, counted again from staging and the encounter seeds with plain SQL: stays within
    6 hours of the patient's latest discharge are one hospitalization (var episode_max_gap_hours),
    one with an inpatient stay counts (readmission_definition inpatient), and the return is the
    next counted one. The demo's data run years past every index."""
    expected = db.execute(
        """
        with stays as (
            select a.subject_id, a.admitted_at, a.discharged_at, a.is_hospital_death, e.is_inpatient
            from staging.stg_mimic__admissions a
            join raw.admission_type_classes t on t.admission_type = a.admission_type
            join raw.encounter_classes e on e.encounter_class = t.encounter_class
        ),
        ordered as (
            select *, max(discharged_at) over (
                partition by subject_id order by admitted_at, discharged_at
                rows between unbounded preceding and 1 preceding
            ) as prior_latest_discharge
            from stays
        ),
        numbered as (
            select *, sum(case when admitted_at <= prior_latest_discharge + interval 6 hour then 0 else 1 end)
                over (partition by subject_id order by admitted_at, discharged_at rows unbounded preceding)
                as episode
            from ordered
        ),
        episodes as (
            select subject_id, episode, min(admitted_at) as admitted_at, max(discharged_at) as discharged_at,
                bool_or(is_hospital_death) as died, bool_or(is_inpatient) as counted
            from numbered group by subject_id, episode
        ),
        first_alive as (
            select subject_id, min(episode) as episode
            from episodes where counted and not died group by subject_id
        ),
        indexed as (
            select e.subject_id, e.episode, e.discharged_at
            from episodes e join first_alive using (subject_id, episode)
        ),
        next_admission as (
            select i.subject_id, min(e.admitted_at) as admitted_at
            from indexed i
            join episodes e on e.subject_id = i.subject_id and e.episode > i.episode and e.counted
            group by i.subject_id
        ),
        outcomes as (
            select
                i.subject_id,
                cast(n.admitted_at as date) - cast(i.discharged_at as date) as to_return,
                p.date_of_death - cast(i.discharged_at as date) as to_death
            from indexed i
            left join next_admission n using (subject_id)
            join staging.stg_mimic__patients p using (subject_id)
        )
        select
            count(*) filter (where to_return <= 365),
            count(*) filter (where to_death <= 365 and (to_return is null or to_death < to_return))
        from outcomes
        """
    ).fetchone()
    assert expected == (30, 7)  # of 95 patients indexed on the demo
    at_horizon = db.execute(
        "select num_returned_cumulative, num_died_cumulative, num_censored_cumulative, num_patients_indexed,"
        " cumulative_incidence_return"
        " from marts.segment_return_curves"
        f" where follow_up_day = {HORIZON} and is_primary_assumption and segment_key = 'overall'"
    ).fetchone()
    returned, died, censored, indexed, incidence = at_horizon
    assert (returned, died) == expected
    assert returned + died + censored == indexed
    # one patient is censored before the horizon: 10020306, whose first inpatient stay (after two
    # observation stays) is 327 days before the end of their data under every assumption; so the
    # estimate sits just above the plain proportion
    assert returned / indexed < incidence < (returned + 1) / indexed


def test_demo_curves_do_not_depend_on_the_end_of_data_assumption(db: duckdb.DuckDBPyConnection) -> None:
    """The demo's anchor year groups end by 2016 and its data run to 2019: every index discharge
    but one is followed for the whole year under each assumption, and that one (10020306, whose
    first inpatient stay is 327 days before the earliest possible end of their data) ends at the
    same day under all three, so the three sets of curves agree."""
    censored_early = db.execute(
        "select distinct subject_id, end_of_data_assumption, follow_up_days"
        " from intermediate.int_patients_followed_for_return"
        " where outcome = 'censored' and censored_by = 'end_of_data' order by 2"
    ).fetchall()
    assert censored_early == [(10020306, a, 327) for a in ("earliest", "latest", "midpoint")]
    curves = return_curves.read_curves(db)
    columns = ["segment_key", "follow_up_day", "cumulative_incidence_return", "num_at_risk"]
    by_assumption = {
        a: curves.loc[curves["end_of_data_assumption"] == a, columns].reset_index(drop=True)
        for a in return_curves.ASSUMPTIONS
    }
    pd.testing.assert_frame_equal(by_assumption["earliest"], by_assumption["midpoint"])
    pd.testing.assert_frame_equal(by_assumption["earliest"], by_assumption["latest"])


# --- the same SQL over synthetic follow-ups --------------------------------------------------


def compiled_mart_sql(target: Path) -> str:
    """The mart's SQL as the session's build compiled it, reading from unqualified schemas."""
    path = target / "compiled" / "mimic_segments" / "models" / "marts" / "segment_return_curves.sql"
    sql = path.read_text()
    return re.sub(r'"[^"]+"\."(intermediate|marts)"\."(\w+)"', r'"\1"."\2"', sql)


def synthetic_follow_up(rng: np.random.Generator) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Follow-ups over few distinct days (so returns, deaths and censoring tie), in segments of
    1 to 40 patients, some without deaths, some without returns, some ending with everyone at
    risk returning on the same day."""
    rows, segments = [], []
    subject = 0
    for index in range(12):
        key = f"cluster_{index}"
        segments.append({"segment_key": key, "segment_name": f"Segment {index}"})
        size = int(rng.integers(1, 41))
        days = rng.choice([0, 1, 2, 3, 7, 30, 90, 364, 365], size=size)
        outcome_weights = {
            0: [0.4, 0.3, 0.3],  # return, death, censored
            1: [0.5, 0.0, 0.5],  # no deaths
            2: [0.0, 0.5, 0.5],  # no returns
            3: [1.0, 0.0, 0.0],  # everyone returns: the risk set is exhausted by events
        }[index % 4]
        outcomes = rng.choice(["return", "death", "censored"], size=size, p=outcome_weights)
        for day, outcome in zip(days, outcomes, strict=True):
            subject += 1
            for assumption in return_curves.ASSUMPTIONS:
                # the later the end of data, the fewer patients it censors early
                shift = {"earliest": 0, "midpoint": 1, "latest": 2}[assumption]
                censored_day = min(HORIZON, int(day) + 30 * shift) if outcome == "censored" else int(day)
                rows.append(
                    {
                        "subject_id": subject,
                        "end_of_data_assumption": assumption,
                        "outcome": outcome,
                        "follow_up_days": censored_day,
                        "segment_key": key,
                    }
                )
    # a patient never followed (end of data before the index discharge) is left out
    subject += 1
    rows.append(
        {
            "subject_id": subject,
            "end_of_data_assumption": "earliest",
            "outcome": "not_followed",
            "follow_up_days": None,
            "segment_key": "cluster_0",
        }
    )
    return pd.DataFrame(rows), pd.DataFrame(segments)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_mart_sql_matches_statsmodels_on_synthetic_edge_cases(built: dict[str, str], seed: int) -> None:
    sql = compiled_mart_sql(Path(built["DBT_TARGET_PATH"]))
    follow_up, segments = synthetic_follow_up(np.random.default_rng(seed))
    with duckdb.connect() as connection:
        connection.execute("create schema intermediate; create schema marts")
        connection.register("follow_up_frame", follow_up)
        connection.register("segments_frame", segments)
        connection.execute(
            "create table intermediate.int_patients_followed_for_return as select subject_id,"
            " end_of_data_assumption, outcome, cast(follow_up_days as integer) as follow_up_days"
            " from follow_up_frame"
        )
        connection.execute(
            "create table marts.patient_segments as"
            " select distinct subject_id, segment_key from follow_up_frame"
        )
        connection.execute("create table marts.segments as select * from segments_frame")
        mart = connection.execute(f"select * from ({sql}) as curves").df()
    followed = follow_up[follow_up["outcome"] != "not_followed"]
    comparison = return_curves.compare(mart, return_curves.reference_curves(followed, HORIZON))
    assert_agrees(comparison)
    assert comparison.curves == 3 * (len(segments) + 1)
    # the exhausted risk sets really are there: undefined variances, KM at 1
    exhausted = mart[(mart["segment_key"] == "cluster_3") & (mart["follow_up_day"] == HORIZON)]
    assert (exhausted["km_return_probability_death_censored"] == 1.0).all() and len(exhausted) == 3
    assert exhausted["km_return_probability_death_censored_se"].isna().all()


def test_loglog_interval_conventions() -> None:
    lower, upper = return_curves.loglog_interval(
        np.array([0.0, 1.0, 0.3, 0.3]), np.array([0.0, 0.0, np.nan, 0.05])
    )
    assert lower[:2].tolist() == [0.0, 1.0] and upper[:2].tolist() == [0.0, 1.0]
    assert np.isnan(lower[2]) and np.isnan(upper[2])
    # inside (0, 1), around the estimate, and the same as the formula written out
    assert 0 < lower[3] < 0.3 < upper[3] < 1
    w = return_curves.Z_95 * 0.05 / (0.3 * np.log(0.3))
    assert (lower[3], upper[3]) == pytest.approx((0.3 ** np.exp(-w), 0.3 ** np.exp(w)), abs=1e-15)


def test_the_figure_draws_one_panel_per_segment_on_shared_axes() -> None:
    """Five segments on a 2 x 3 grid: five panels (the sixth removed), each with the segment's
    curve over all patients' grey one; a panel with none below it carries the day axis."""
    days = np.arange(366)
    keys = [f"cluster_{i}" for i in range(5)]
    rows = []
    for rank, key in enumerate([*keys, return_curves.OVERALL]):
        incidence = np.minimum(0.9, (rank + 1) * 0.0005 * days)
        rows.append(
            pd.DataFrame(
                {
                    "end_of_data_assumption": return_curves.PRIMARY_ASSUMPTION,
                    "segment_key": key,
                    "follow_up_day": days,
                    "num_patients_indexed": 10 * (rank + 1),
                    "cumulative_incidence_return": incidence,
                    "cumulative_incidence_return_lower": incidence * 0.8,
                    "cumulative_incidence_return_upper": np.minimum(1.0, incidence * 1.2),
                }
            )
        )
    curves = pd.concat(rows, ignore_index=True)
    labels = {key: f"Segment name {key}" for key in keys}
    colours = dict.fromkeys(keys, "#0072B2")
    fig = return_curves.figure_return_curves(curves, colours, keys[::-1], labels)
    assert len(fig.axes) == 5
    assert [ax.get_title(loc="left").split("\n")[0] for ax in fig.axes] == [labels[k] for k in keys[::-1]]
    for ax in fig.axes:
        assert ax.get_shared_x_axes().joined(ax, fig.axes[0])
        assert ax.get_shared_y_axes().joined(ax, fig.axes[0])
        assert [line.get_color() for line in ax.get_lines()] == ["#9A9A9A", "#0072B2"]
    # panels 3 and 4 (second row) and panel 2 (nothing below it) carry the day axis
    assert [bool(ax.get_xlabel()) for ax in fig.axes] == [False, False, True, True, True]
    first = fig.axes[0].texts[0].get_text()
    assert first == "Back in hospital by\nday 30: 8 %\nday 90: 22 %\nday 365: 90 %"
