"""Unit tests for mimic_segments.segmentation.personas: personas as data, cosine fit, names, weak matches.

No persona name or signature is written here: they come from the catalogue seeds
(``synthetic_patients.clustered_personas``) or are made up for the test (``toy`` personas).
"""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.metrics import adjusted_rand_score
from synthetic_patients import (
    FEATURES,
    NEVER_ADMITTED,
    PLANTED,
    PLANTED_WITH_AN_UNDESCRIBED_GROUP,
    catalogue,
    clustered_personas,
    persona_patients,
    signatures,
)

from mimic_segments.catalogue import features
from mimic_segments.segmentation import clustering, personas, pipeline
from mimic_segments.segmentation.personas import Persona, name_segments
from mimic_segments.segmentation.settings import SegmentationSettings

PERSONAS = clustered_personas()
# each feature's care-need dimension, from the feature catalogue
DIMENSIONS = features.dimensions(features.load_catalogue())
KEY_OF = {p.name: p.key for p in PERSONAS}
# the 3.1 release: 141,175 of 364,627 patients never admitted
NEVER_ADMITTED_SHARE = 141_175 / 364_627
REPO_ROOT = Path(__file__).resolve().parents[2]
FEATURE_CATALOGUE = pd.read_csv(REPO_ROOT / "seeds" / "features" / "feature_catalogue.csv")


def demo_vars(k: int) -> str:
    """The segmentation config the dbt Python models get, from dbt_project.yml's vars, at ``k``."""
    project = yaml.safe_load((REPO_ROOT / "dbt_project.yml").read_text(encoding="utf-8"))["vars"]
    names = {
        "k_min": "cluster_k_min",
        "k_max": "cluster_k_max",
        "random_state": "cluster_random_state",
        "sample_size": "cluster_diagnostics_sample_size",
        "silhouette_sample_size": "cluster_silhouette_sample_size",
        "stability_resamples": "cluster_stability_resamples",
        "min_stability": "cluster_min_stability",
        "min_cluster_share": "cluster_min_segment_share",
        "min_match_score": "persona_min_match_score",
    }
    return json.dumps({"k": k, **{key: project[var] for key, var in names.items()}})


def fit_admitted(frame: pd.DataFrame, k: int) -> clustering.SegmentationResult:
    """The clustering population of the fixture: its admitted patients (the SQL rule, applied
    in int_patients_classified_by_population, is unit-tested in dbt)."""
    admitted = frame[frame["group"] != NEVER_ADMITTED]
    return clustering.fit_segments(admitted, FEATURES, k=k, log1p_features=FEATURES)


@pytest.fixture(scope="module")
def planted() -> tuple[pd.DataFrame, clustering.SegmentationResult]:
    # a 38.7 % never-admitted mass beside the planted groups, as in the full release
    frame = persona_patients(seed=0, never_admitted_share=NEVER_ADMITTED_SHARE)
    return frame, fit_admitted(frame, k=len(PERSONAS))


def test_pipeline_recovers_planted_groups_among_the_admitted(planted) -> None:
    frame, result = planted
    merged = result.assignments.merge(frame[["subject_id", "group"]], on="subject_id")
    assert NEVER_ADMITTED not in set(merged["group"])
    assert adjusted_rand_score(merged["group"], merged["cluster_id"]) >= 0.95


def test_the_never_admitted_mass_would_distort_a_registry_fit(planted) -> None:
    """Why the population rule exists: fitted on the registry, the all-zero rows take a segment
    of their own and the four planted groups are no longer four segments."""
    frame, _ = planted
    registry = clustering.fit_segments(frame, FEATURES, k=len(PERSONAS), log1p_features=FEATURES)
    merged = registry.assignments.merge(frame[["subject_id", "group"]], on="subject_id")
    admitted = merged[merged["group"] != NEVER_ADMITTED]
    assert adjusted_rand_score(admitted["group"], admitted["cluster_id"]) < 0.9


def test_persona_rule_names_planted_groups(planted) -> None:
    frame, result = planted
    names = name_segments(result.centroids_scaled, PERSONAS, DIMENSIONS)
    assert sorted(names["catalogue_persona_key"]) == sorted(p.key for p in PERSONAS)
    assert (names["naming_rule"] == personas.CATALOGUE_RULE).all()
    assert (names["persona_name"] == names["catalogue_persona_name"]).all()
    merged = result.assignments.merge(frame[["subject_id", "group"]], on="subject_id").merge(
        names[["cluster_id", "catalogue_persona_key"]], on="cluster_id"
    )
    # every patient's segment carries the persona the patient's group was planted to resemble
    assert (merged["catalogue_persona_key"] == merged["group"]).mean() >= 0.99
    sizes = merged.groupby("catalogue_persona_key").size()
    for group, (size, *_rest) in PLANTED.items():
        assert sizes[group] == pytest.approx(size, abs=0.02 * size)
    # planted to match: every fit is strong, and each persona is its segment's best
    assert not names["is_weak_persona_match"].any()
    assert (names["persona_match_margin"] > 0).all()


def test_a_group_no_persona_describes_is_flagged_weak() -> None:
    frame = persona_patients(
        seed=4, planted=PLANTED_WITH_AN_UNDESCRIBED_GROUP, never_admitted_share=NEVER_ADMITTED_SHARE
    )
    result = fit_admitted(frame, k=len(PERSONAS))
    names = name_segments(result.centroids_scaled, PERSONAS, DIMENSIONS)
    merged = result.assignments.merge(frame[["subject_id", "group"]], on="subject_id")
    planted_segment = merged[merged["group"] == "frequent_short_stays"]["cluster_id"].mode().item()
    row = names.set_index("cluster_id").loc[planted_segment]
    assert row["is_weak_persona_match"]
    assert row["persona_match_score"] < personas.DEFAULT_MIN_MATCH_SCORE
    # the three groups planted after real personas still fit well
    assert names["is_weak_persona_match"].sum() == 1


def test_names_do_not_depend_on_cluster_numbers(planted) -> None:
    _, result = planted
    centroids = result.centroids_scaled
    named = name_segments(centroids, PERSONAS, DIMENSIONS).set_index("cluster_id")["persona_name"]
    order = [2, 0, 3, 1]
    permuted = centroids.iloc[order].reset_index(drop=True).rename_axis("cluster_id")
    renamed = name_segments(permuted, PERSONAS, DIMENSIONS).set_index("cluster_id")["persona_name"]
    assert [renamed[i] for i in range(4)] == [named[j] for j in order]


def test_naming_is_deterministic(planted) -> None:
    _, result = planted
    first, second = (name_segments(result.centroids_scaled, PERSONAS, DIMENSIONS) for _ in range(2))
    pd.testing.assert_frame_equal(first, second)


# --- the fit: cosine similarity ----------------------------------------------------------

TOY = (
    Persona("up", "Up", {"a": 1.0, "b": 1.0}),
    Persona("down", "Down", {"a": -2.0, "b": -2.0}),
    Persona("only_c", "Only c", {"c": 1.0}),
)


def centroids(rows: list[list[float]], columns: tuple[str, ...] = ("a", "b", "c")) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(columns), index=pd.RangeIndex(len(rows), name="cluster_id"))


def test_match_scores_are_cosine_similarities() -> None:
    scores = personas.match_scores(centroids([[1.0, 1.0, 0.0], [3.0, 0.0, 4.0], [0.0, 0.0, 0.0]]), TOY)
    assert scores.loc[0].tolist() == pytest.approx([1.0, -1.0, 0.0])
    # |(3, 0, 4)| = 5: cos with (1, 1, 0) = 3 / (5 sqrt 2); with (0, 0, 1) = 4 / 5
    assert scores.loc[1].tolist() == pytest.approx([3 / (5 * np.sqrt(2)), -3 / (5 * np.sqrt(2)), 0.8])
    # a segment at the population mean fits nothing
    assert scores.loc[2].tolist() == [0.0, 0.0, 0.0]


def test_scores_do_not_depend_on_weight_scale_or_centroid_length() -> None:
    base = personas.match_scores(centroids([[1.0, 2.0, 3.0]]), TOY)
    stretched = personas.match_scores(centroids([[10.0, 20.0, 30.0]]), TOY)
    pd.testing.assert_frame_equal(base, stretched)
    assert base.loc[0, "up"] == pytest.approx(-base.loc[0, "down"])  # same direction, weight 2


def test_signature_features_that_are_not_clustered_are_left_out() -> None:
    scores = personas.match_scores(centroids([[1.0, 1.0]], ("a", "b")), TOY[:2])
    assert scores.loc[0].tolist() == pytest.approx([1.0, -1.0])
    with pytest.raises(ValueError, match="persona 'only_c' cannot be matched: none of its signature"):
        personas.match_scores(centroids([[1.0, 1.0]], ("a", "b")), TOY)


def test_margin_runner_up_and_weak_flag() -> None:
    rows = [[1.0, 0.9, 0.0], [0.6, 0.0, 1.0], [-1.0, -1.0, 0.1]]
    named = name_segments(centroids(rows), TOY, {}, min_match_score=0.9)
    assert named["catalogue_persona_key"].tolist() == ["up", "only_c", "down"]
    assert named["runner_up_persona_name"].tolist() == ["Only c", "Up", "Only c"]
    # by hand: cos((1, .9, 0), (1, 1, 0)) = 1.9 / (sqrt(1.81) sqrt 2); runner-up "only_c": 0
    # cos((.6, 0, 1), (0, 0, 1)) = 1 / sqrt(1.36) = 0.857 < 0.9: weak;
    # runner-up "up": .6 / (sqrt(1.36) sqrt 2)
    # cos((-1, -1, .1), (-2, -2, 0)) = 2 / (sqrt(2.01) sqrt 2); runner-up "only_c": .1 / sqrt(2.01)
    fits = [1.9 / (np.sqrt(1.81) * np.sqrt(2)), 1 / np.sqrt(1.36), 2 / (np.sqrt(2.01) * np.sqrt(2))]
    runner_up = [0.0, 0.6 / (np.sqrt(1.36) * np.sqrt(2)), 0.1 / np.sqrt(2.01)]
    assert named["persona_match_score"].tolist() == pytest.approx(fits)
    assert named["persona_match_margin"].tolist() == pytest.approx(np.subtract(fits, runner_up))
    assert named["is_weak_persona_match"].tolist() == [False, True, False]


def test_the_one_to_one_assignment_may_give_a_segment_a_worse_persona() -> None:
    # both segments fit "up" best; the second fits it less and gets "only_c": negative margin
    named = name_segments(centroids([[1.0, 1.0, 0.0], [1.0, 1.0, 0.5]]), TOY[::2], {})
    assert named["catalogue_persona_key"].tolist() == ["up", "only_c"]
    assert named.loc[1, "persona_match_margin"] < 0


def test_assignment_maximises_the_total_score() -> None:
    # Segment 0 scores best on persona A, but giving A to segment 1 frees B for segment 0
    # and the total is higher: the assignment is global, not greedy.
    scores = pd.DataFrame([[5.0, 4.0], [4.5, 0.0]], columns=["A", "B"])
    assert personas.assign_catalogue_personas(scores).tolist() == ["B", "A"]


def test_one_to_one_assignment_needs_a_square_matrix() -> None:
    with pytest.raises(ValueError, match="as many segments as personas, got 3 segments and 4 personas"):
        personas.assign_catalogue_personas(pd.DataFrame(np.zeros((3, 4))))


def test_threshold_must_be_a_cosine() -> None:
    with pytest.raises(ValueError, match=r"min_match_score is a cosine similarity in \[-1, 1\]"):
        name_segments(centroids([[1.0, 1.0, 0.0]]), TOY, {}, min_match_score=1.5)


# --- the seeds ---------------------------------------------------------------------------


def test_the_catalogue_seeds_define_the_clustered_personas() -> None:
    table = catalogue()
    clustered = table[table["persona_kind"] == personas.CLUSTERED].sort_values("catalogue_order")
    assert [p.key for p in PERSONAS] == clustered["persona_key"].tolist()
    assert [p.name for p in PERSONAS] == clustered["persona_name"].tolist()
    weights = signatures()
    for persona in PERSONAS:
        rows = weights[weights["persona_key"] == persona.key]
        assert persona.signature == dict(zip(rows["feature_name"], rows["weight"], strict=True))
    # every signature feature is a column the project can cluster on
    assert set(weights["feature_name"]) <= {f.feature_name for f in features.load_catalogue()}
    # one rule-defined segment per rule for the patients outside the clustering population
    rule = table[table["persona_kind"] == personas.RULE_DEFINED]
    assert sorted(rule["segment_rule"]) == [
        "admitted_outside_clustering_population",
        "never_admitted_frequent_ed_use",
        "never_admitted_no_ed_visit",
        "never_admitted_occasional_ed_use",
    ]
    assert table["outreach_priority"].ge(1).all()


@pytest.mark.parametrize(
    ("edit", "fragment"),
    [
        (
            lambda c, s: (c.assign(persona_kind=c["persona_kind"].replace("clustered", "fitted")), s),
            "unknown persona_kind",
        ),
        (lambda c, s: (c, s[s["persona_key"] != c["persona_key"].iloc[0]]), "has no signature rows"),
        (lambda c, s: (c, pd.concat([s, s.iloc[[0]]])), "list a feature twice"),
        (lambda c, s: (c, s.assign(weight=s["weight"].where(s.index != 0, 0.0))), "finite and non-zero"),
        (
            lambda c, s: (c, s.assign(persona_key=s["persona_key"].where(s.index != 0, "nobody"))),
            "not in the catalogue: ['nobody']",
        ),
        (
            lambda c, s: (
                c,
                pd.concat(
                    [
                        s,
                        pd.DataFrame(
                            {
                                "persona_key": [c["persona_key"].iloc[-1]],
                                "feature_name": ["num_admissions"],
                                "weight": [1.0],
                            }
                        ),
                    ]
                ),
            ),
            "rule-defined personas have no signature",
        ),
        (lambda c, s: (c.assign(persona_name=c["persona_name"].iloc[0]), s), "repeats persona_name"),
    ],
)
def test_seed_errors_name_the_problem(edit, fragment) -> None:
    table, weights = edit(catalogue(), signatures())
    with pytest.raises(ValueError, match=fragment.replace("[", r"\[").replace("]", r"\]")):
        personas.personas_from_catalogue(table.reset_index(drop=True), weights.reset_index(drop=True))


# --- other k: descriptive names --------------------------------------------------------------


def test_dimension_scores_average_their_features() -> None:
    frame = pd.DataFrame(
        {
            "num_admissions": [1.0],
            "total_length_of_stay_days": [3.0],
            "icu_stay_count": [-1.0],
            "age_years": [9.0],
        },
        index=pd.RangeIndex(1, name="cluster_id"),
    )
    scores = personas.dimension_scores(frame, DIMENSIONS)
    assert scores.loc[0].to_dict() == {"utilization": 2.0, "complexity": 0.0, "acuity": -1.0}


def assert_names_tell_segments_apart(names: list[str]) -> None:
    """No two names equal, none a prefix of another, and neither once a trailing bracket is
    removed: a care manager tells every segment from every other by its name."""
    stripped = [re.sub(r"\s*\([^()]*\)\s*$", "", name) for name in names]
    for shown in (names, stripped):
        assert len(set(shown)) == len(shown), shown
        for a, b in itertools.permutations(shown, 2):
            assert not b.startswith(a), (a, b)


@pytest.mark.parametrize(
    ("score", "expected"),
    [
        (-2.0, "very low"),
        (-1.5, "very low"),
        (-1.49, "low"),
        (-0.5, "low"),
        (-0.49, "average"),
        (0.0, "average"),
        (0.49, "average"),
        (0.5, "high"),
        (1.49, "high"),
        (1.5, "very high"),
        (3.0, "very high"),
    ],
)
def test_level_bands(score, expected) -> None:
    assert personas.level(score) == expected


@pytest.mark.parametrize(
    ("scores", "expected"),
    [
        ((1.2, 0.7, 0.1), "High utilization, high complexity, average acuity"),
        ((-0.6, -0.9, -0.5), "Low utilization, low complexity, low acuity"),
        ((-0.6, -0.9, -0.4), "Low utilization, low complexity, average acuity"),
        ((0.2, -0.3, 0.4), "Average utilization, average complexity, average acuity"),
        ((0.5, 0.0, -0.5), "High utilization, average complexity, low acuity"),
        ((2.1, -1.6, 1.5), "Very high utilization, very low complexity, very high acuity"),
    ],
)
def test_descriptive_name_states_every_dimension_in_a_fixed_order(scores, expected) -> None:
    assert personas.descriptive_name(dict(zip(personas.DIMENSIONS, scores, strict=True))) == expected


def test_scored_name_puts_each_score_before_its_dimension() -> None:
    scores = dict(zip(personas.DIMENSIONS, (1.26, 0.04, -0.72), strict=True))
    assert personas.scored_name(scores) == (
        "High (+1.3 SD) utilization, average (0.0 SD) complexity, low (-0.7 SD) acuity"
    )
    assert personas.scored_name(scores, 2) == (
        "High (+1.26 SD) utilization, average (+0.04 SD) complexity, low (-0.72 SD) acuity"
    )


def dimension_frame(rows: list[tuple[float, float, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        rows, columns=list(personas.DIMENSIONS), index=pd.RangeIndex(len(rows), name="cluster_id")
    )


def test_the_k5_demo_pair_gets_names_that_differ() -> None:
    # the two k = 5 demo segments once named "Low complexity, low utilization, low acuity" and
    # "Low complexity, low utilization"
    names = personas.descriptive_names(dimension_frame([(-0.62, -0.81, -0.55), (-0.58, -0.77, -0.31)]))
    assert names.tolist() == [
        "Low utilization, low complexity, low acuity",
        "Low utilization, low complexity, average acuity",
    ]
    assert_names_tell_segments_apart(names.tolist())


def test_same_levels_carry_the_scores_only_where_needed() -> None:
    rows = [(1.3, 0.1, -0.7), (0.8, 0.2, -0.6), (-1.0, 0.0, 0.0)]
    names = personas.descriptive_names(dimension_frame(rows)).tolist()
    assert names == [
        "High (+1.3 SD) utilization, average (+0.1 SD) complexity, low (-0.7 SD) acuity",
        "High (+0.8 SD) utilization, average (+0.2 SD) complexity, low (-0.6 SD) acuity",
        "Low utilization, average complexity, average acuity",
    ]
    assert_names_tell_segments_apart(names)


def test_scores_that_differ_in_acuity_only_still_differ_before_any_trailing_bracket() -> None:
    names = personas.descriptive_names(dimension_frame([(1.0, 0.0, -0.7), (1.0, 0.0, -0.8)])).tolist()
    assert names == [
        "High (+1.0 SD) utilization, average (0.0 SD) complexity, low (-0.7 SD) acuity",
        "High (+1.0 SD) utilization, average (0.0 SD) complexity, low (-0.8 SD) acuity",
    ]
    assert_names_tell_segments_apart(names)


def test_scores_equal_at_one_decimal_get_more() -> None:
    names = personas.descriptive_names(dimension_frame([(0.61, 0.0, 0.0), (0.64, 0.0, 0.0), (0.9, 0.0, 0.0)]))
    assert names.tolist() == [
        "High (+0.61 SD) utilization, average (0.00 SD) complexity, average (0.00 SD) acuity",
        "High (+0.64 SD) utilization, average (0.00 SD) complexity, average (0.00 SD) acuity",
        "High (+0.90 SD) utilization, average (0.00 SD) complexity, average (0.00 SD) acuity",
    ]
    assert_names_tell_segments_apart(names.tolist())


def test_equal_dimension_scores_lead_with_the_segment_number() -> None:
    names = personas.descriptive_names(dimension_frame([(0.7, 0.0, 0.0), (0.7, 0.0, 0.0), (0.0, 0.0, 0.0)]))
    assert names.tolist() == [
        "Segment 0: High (+0.700 SD) utilization, average (0.000 SD) complexity, average (0.000 SD) acuity",
        "Segment 1: High (+0.700 SD) utilization, average (0.000 SD) complexity, average (0.000 SD) acuity",
        "Average utilization, average complexity, average acuity",
    ]
    assert_names_tell_segments_apart(names.tolist())


def test_other_k_get_descriptive_unique_names_and_a_catalogue_persona() -> None:
    frame = persona_patients(seed=1, never_admitted_share=NEVER_ADMITTED_SHARE)
    names = name_segments(fit_admitted(frame, k=6).centroids_scaled, PERSONAS, DIMENSIONS)
    assert len(names) == 6
    assert_names_tell_segments_apart(names["persona_name"].tolist())
    assert (names["naming_rule"] == personas.DESCRIPTIVE_RULE).all()
    assert set(names["catalogue_persona_key"]) <= set(KEY_OF.values())
    assert not set(names["persona_name"]) & set(KEY_OF)


def test_repeated_descriptive_names_differ_by_their_scores() -> None:
    frame = pd.DataFrame(
        {"icu_stay_count": [2.0, 1.0, -1.0], "num_admissions": [0.0, 0.0, 0.0]},
        index=pd.RangeIndex(3, name="cluster_id"),
    )
    toy = (
        Persona("icu", "ICU", {"icu_stay_count": 1.0}),
        Persona("adm", "Admissions", {"num_admissions": 1.0}),
    )
    names = name_segments(frame, toy, DIMENSIONS)["persona_name"].tolist()
    assert names == [
        "Average utilization, average complexity, very high acuity",
        "Average utilization, average complexity, high acuity",
        "Average utilization, average complexity, low acuity",
    ]
    frame["icu_stay_count"] = [1.2, 0.9, -1.0]
    names = name_segments(frame, toy, DIMENSIONS)["persona_name"].tolist()
    assert names == [
        "Average (0.0 SD) utilization, average (0.0 SD) complexity, high (+1.2 SD) acuity",
        "Average (0.0 SD) utilization, average (0.0 SD) complexity, high (+0.9 SD) acuity",
        "Average utilization, average complexity, low acuity",
    ]
    assert_names_tell_segments_apart(names)


def test_nearest_catalogue_persona_may_repeat() -> None:
    frame = pd.DataFrame(
        {"icu_stay_count": [2.0, 1.5], "num_admissions": [0.0, 0.1]},
        index=pd.RangeIndex(2, name="cluster_id"),
    )
    toy = (
        Persona("icu", "ICU", {"icu_stay_count": 1.0}),
        Persona("adm", "Admissions", {"num_admissions": 1.0}),
        Persona("x", "X", {"num_admissions": -1.0}),
    )
    named = name_segments(frame, toy, DIMENSIONS)
    assert named["catalogue_persona_key"].tolist() == ["icu", "icu"]
    assert named["persona_match_score"].tolist() == pytest.approx([1.0, 1.5 / np.hypot(1.5, 0.1)])


# --- the demo: names at k = 4, 5 and 6 --------------------------------------------------------


@pytest.fixture(scope="module")
def demo_inputs(built: dict[str, str]) -> pd.DataFrame:
    """The demo build's clustering inputs (int_patients_prepared_for_segmentation)."""
    with duckdb.connect(built["MIMIC_SEGMENTS_DEV_DB"], read_only=True) as connection:
        return connection.execute(
            "select * from intermediate.int_patients_prepared_for_segmentation order by subject_id"
        ).df()


@pytest.mark.parametrize("k", [4, 5, 6])
def test_demo_segment_names_tell_segments_apart(demo_inputs: pd.DataFrame, k: int) -> None:
    """The segmentation fitted in Python on the demo's inputs, as the dbt Python models fit it
    (pipeline functions, the build's settings but k): every name tells its segment apart."""
    settings = SegmentationSettings.from_dbt(
        demo_vars(k), FEATURE_CATALOGUE, pipeline.input_features(demo_inputs)
    )
    centroids = pipeline.build_centroids(demo_inputs, settings)
    named = pipeline.build_segment_personas(centroids, catalogue(), signatures(), settings)
    assert len(named) == k
    assert_names_tell_segments_apart(named["persona_name"].tolist())
    expected = personas.CATALOGUE_RULE if k == len(PERSONAS) else personas.DESCRIPTIVE_RULE
    assert (named["naming_rule"] == expected).all()
    if k != len(PERSONAS):
        # each name states the three dimensions in order, each with its level (and its score, if
        # another segment has the same levels)
        for row in named.set_index("cluster_id").iterrows():
            scores = row[1][[f"{d}_score" for d in personas.DIMENSIONS]].set_axis(personas.DIMENSIONS)
            plain = re.sub(r" \((?:[+-]?\d+\.\d+) SD\)", "", row[1]["persona_name"])
            assert plain == personas.descriptive_name(scores)
