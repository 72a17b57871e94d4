"""Unit tests for mimic_segments.personas: naming segments from centroid profiles."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score
from synthetic_patients import FEATURES, PLANTED, persona_patients

from mimic_segments import clustering, personas
from mimic_segments.personas import SEED_PERSONAS, name_segments

PERSONA_NAMES = [p.name for p in SEED_PERSONAS]


@pytest.fixture(scope="module")
def planted() -> tuple[pd.DataFrame, clustering.SegmentationResult]:
    frame = persona_patients(seed=0)
    return frame, clustering.fit_segments(frame, FEATURES, k=4, log1p_features=FEATURES)


def test_pipeline_recovers_planted_groups(planted) -> None:
    frame, result = planted
    merged = result.assignments.merge(frame[["subject_id", "group"]], on="subject_id")
    assert adjusted_rand_score(merged["group"], merged["cluster_id"]) >= 0.95


def test_persona_rule_names_planted_groups(planted) -> None:
    frame, result = planted
    names = name_segments(result.centroids_scaled)
    assert sorted(names["persona_name"]) == sorted(PERSONA_NAMES)
    assert (names["naming_rule"] == personas.CATALOGUE_RULE).all()
    assert (names["persona_name"] == names["catalogue_persona_name"]).all()
    merged = result.assignments.merge(frame[["subject_id", "group"]], on="subject_id").merge(
        names[["cluster_id", "persona_name"]], on="cluster_id"
    )
    # every patient's segment carries the name of the group the patient was planted in
    assert (merged["persona_name"] == merged["group"]).mean() >= 0.99
    sizes = merged.groupby("persona_name").size()
    for group, (size, *_rest) in PLANTED.items():
        assert sizes[group] == pytest.approx(size, abs=0.02 * size)


def test_names_do_not_depend_on_cluster_numbers(planted) -> None:
    _, result = planted
    centroids = result.centroids_scaled
    named = name_segments(centroids).set_index("cluster_id")["persona_name"]
    order = [2, 0, 3, 1]
    permuted = centroids.iloc[order].reset_index(drop=True).rename_axis("cluster_id")
    renamed = name_segments(permuted).set_index("cluster_id")["persona_name"]
    assert [renamed[i] for i in range(4)] == [named[j] for j in order]


def test_naming_is_deterministic(planted) -> None:
    _, result = planted
    first, second = (name_segments(result.centroids_scaled) for _ in range(2))
    pd.testing.assert_frame_equal(first, second)


def test_dimension_scores_average_their_features() -> None:
    centroids = pd.DataFrame(
        {
            "num_admissions": [1.0],
            "total_length_of_stay_days": [3.0],
            "icu_stay_count": [-1.0],
            "age_years": [9.0],
        },
        index=pd.RangeIndex(1, name="cluster_id"),
    )
    scores = personas.dimension_scores(centroids)
    assert scores.loc[0].to_dict() == {"utilization": 2.0, "complexity": 0.0, "acuity": -1.0}


def test_features_without_a_dimension_cannot_name_segments() -> None:
    centroids = pd.DataFrame({"age_years": [1.0, -1.0]}, index=pd.RangeIndex(2, name="cluster_id"))
    with pytest.raises(ValueError, match="none of the clustering features"):
        personas.dimension_scores(centroids)


def test_unit_signatures() -> None:
    for persona in SEED_PERSONAS:
        assert np.linalg.norm(persona.unit_signature()) == pytest.approx(1.0)


def test_assignment_maximises_the_total_score() -> None:
    # Segment 0 scores best on persona A, but giving A to segment 1 frees B for segment 0
    # and the total is higher: the assignment is global, not greedy.
    scores = pd.DataFrame([[5.0, 4.0], [4.5, 0.0]], columns=["A", "B"])
    assert personas.assign_catalogue_personas(scores).tolist() == ["B", "A"]


def test_one_to_one_assignment_needs_a_square_matrix() -> None:
    with pytest.raises(ValueError, match="as many segments as personas, got 3 segments and 4 personas"):
        personas.assign_catalogue_personas(pd.DataFrame(np.zeros((3, 4))))


@pytest.mark.parametrize(
    ("scores", "expected"),
    [
        ((1.2, 0.7, 0.1), "High utilization, high complexity"),
        ((-0.6, -0.9, -0.5), "Low complexity, low utilization, low acuity"),
        ((0.2, -0.3, 0.4), "Near-average utilization, complexity and acuity"),
        ((0.5, 0.0, -0.5), "High utilization, low acuity"),
    ],
)
def test_descriptive_name(scores, expected) -> None:
    assert personas.descriptive_name(dict(zip(personas.DIMENSIONS, scores, strict=True))) == expected


def test_other_k_get_descriptive_unique_names_and_a_catalogue_persona() -> None:
    frame = persona_patients(seed=1)
    result = clustering.fit_segments(frame, FEATURES, k=6, log1p_features=FEATURES)
    names = name_segments(result.centroids_scaled)
    assert len(names) == 6
    assert names["persona_name"].is_unique
    assert (names["naming_rule"] == personas.DESCRIPTIVE_RULE).all()
    assert set(names["catalogue_persona_name"]) <= set(PERSONA_NAMES)
    assert not set(names["persona_name"]) & set(PERSONA_NAMES)


def test_repeated_descriptive_names_say_which_segment() -> None:
    centroids = pd.DataFrame(
        {"icu_stay_count": [2.0, 1.0, -1.0], "num_admissions": [0.0, 0.0, 0.0]},
        index=pd.RangeIndex(3, name="cluster_id"),
    )
    names = name_segments(centroids)["persona_name"].tolist()
    assert names == ["High acuity (segment 0)", "High acuity (segment 1)", "Low acuity"]


def test_nearest_catalogue_persona_may_repeat() -> None:
    centroids = pd.DataFrame(
        {"icu_stay_count": [2.0, 1.5], "num_admissions": [0.0, 0.1]},
        index=pd.RangeIndex(2, name="cluster_id"),
    )
    named = name_segments(centroids)
    assert named["catalogue_persona_name"].tolist() == ["Acute and ICU-intensive"] * 2
    assert named["persona_match_score"].tolist() == pytest.approx([2.0, 1.5])
