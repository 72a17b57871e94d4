"""The segmentation marts on the real MIMIC-IV demo: diagnostics, personas, SQL scoring, profiles.

Uses the session's demo build (conftest.py). A second build, on a copy of that database, runs
the segmentation with `cluster_k: auto` and the demographic inputs switched on.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from conftest import segmentation_rebuilt_on_a_copy
from synthetic_patients import catalogue

from mimic_segments.catalogue import features

pytestmark = pytest.mark.e2e

# the clustered personas of the catalogue seed (names are data, read from the seed)
CATALOGUE = sorted(catalogue().query("persona_kind == 'clustered'")["persona_name"])
# the clustering inputs the feature catalogue marks is_clustered
NUM_FEATURES = len(features.clustered(features.load_catalogue()))


def rows(db: duckdb.DuckDBPyConnection, sql: str) -> list[tuple[object, ...]]:
    return db.execute(sql).fetchall()


def test_diagnostics_cover_every_k_of_the_range(db: duckdb.DuckDBPyConnection) -> None:
    table = db.execute("select * from segmentation.segmentation_diagnostics order by k").df()
    assert table["k"].tolist() == [2, 3, 4, 5, 6, 7, 8]
    assert table.loc[table["is_chosen"], "k"].tolist() == [4]
    assert (table["selection_mode"] == "fixed").all()
    # 100 patients: below every sample cap, so each k is fitted and scored on all of them
    assert (table["fit_sample_size"] == 100).all()
    assert (table["silhouette_sample_size"] == 100).all()
    assert (table["stability_resamples"] == 10).all()
    for column in ["inertia", "silhouette", "calinski_harabasz", "davies_bouldin", "stability_mean_ari"]:
        assert table[column].notna().all(), column
    assert table["inertia"].is_monotonic_decreasing
    assert table["is_auto_choice"].sum() == 1
    chosen_reason = table.loc[table["is_chosen"], "selection_reason"].item()
    assert chosen_reason.startswith("chosen: fixed by var cluster_k = 4")


def test_four_named_personas_one_each(db: duckdb.DuckDBPyConnection) -> None:
    personas = db.execute(
        "select p.cluster_id, p.persona_name, p.naming_rule, p.persona_match_score, p.persona_match_margin,"
        " p.is_weak_persona_match, count(c.subject_id) as n"
        " from segmentation.segment_personas p join segmentation.patient_clusters c using (cluster_id)"
        " group by all order by p.cluster_id"
    ).df()
    assert sorted(personas["persona_name"]) == CATALOGUE
    assert (personas["naming_rule"] == "catalogue assignment").all()
    assert personas["n"].sum() == 100
    # the fit is a cosine; the weak flag follows var persona_min_match_score (0.5)
    assert personas["persona_match_score"].between(-1, 1).all()
    assert (personas["is_weak_persona_match"] == (personas["persona_match_score"] < 0.5)).all()
    # The demo's 100 ICU patients at k = 4: the most ICU-intensive patients are also the most
    # frequent ones (one segment), and no segment has more conditions than hospital use. So two
    # personas fit their segments weakly, one of them worse than its runner-up (the one-to-one
    # assignment left it over), and both are flagged rather than presented as good fits.
    assert personas["is_weak_persona_match"].sum() == 2
    assert (personas.loc[personas["is_weak_persona_match"], "persona_match_margin"] < 0).sum() >= 1
    assert (personas.loc[~personas["is_weak_persona_match"], "persona_match_margin"] > 0).all()


def test_sql_scoring_agrees_with_python_for_every_patient(db: duckdb.DuckDBPyConnection) -> None:
    disagreements = rows(
        db,
        "select p.subject_id, p.cluster_id, s.cluster_id from segmentation.patient_clusters p"
        " full outer join segmentation.patient_nearest_centroid s using (subject_id)"
        " where p.cluster_id is distinct from s.cluster_id"
        " or abs(p.distance_to_centroid - s.distance_to_centroid) > 1e-9",
    )
    assert disagreements == []
    scored = rows(db, "select count(*), min(num_features_scored) from segmentation.patient_nearest_centroid")
    assert scored == [(100, NUM_FEATURES)]


def test_centroids_hold_the_model(db: duckdb.DuckDBPyConnection) -> None:
    summary = rows(
        db,
        "select count(*), count(distinct cluster_id), count(distinct feature_name),"
        " count(distinct (feature_name, transform, scaler_mean, scaler_scale))"
        " from segmentation.segment_centroids",
    )
    assert summary == [(4 * NUM_FEATURES, 4, NUM_FEATURES, NUM_FEATURES)]
    sizes = rows(
        db,
        "select c.cluster_id, c.cluster_size, count(p.subject_id) from"
        " (select distinct cluster_id, cluster_size from segmentation.segment_centroids) c"
        " join segmentation.patient_clusters p using (cluster_id)"
        " group by all having c.cluster_size <> count(p.subject_id)",
    )
    assert sizes == []
    # the scaler's mean of log1p(num_admissions) is the mean over all 100 demo patients
    mean = rows(
        db,
        "select distinct c.scaler_mean - (select avg(ln(1 + num_admissions)) from "
        "segmentation.patient_features)"
        " from segmentation.segment_centroids c where c.feature_name = 'num_admissions'",
    )
    assert abs(mean[0][0]) < 1e-12


def test_segments_and_profiles_are_complete(db: duckdb.DuckDBPyConnection) -> None:
    segments = db.execute("select * from marts.segments order by segment_key").df()
    # every demo patient was admitted: four clustered segments, no rule-defined one
    assert segments["segment_key"].tolist() == ["cluster_0", "cluster_1", "cluster_2", "cluster_3"]
    assert (segments["segment_kind"] == "clustered").all()
    assert segments["num_patients"].sum() == 100
    assert segments["share_of_registry"].sum() == pytest.approx(1.0)
    assert segments["share_of_clustered_population"].tolist() == pytest.approx(
        segments["share_of_registry"].tolist()
    )
    assert sorted(segments["segment_name"]) == CATALOGUE
    assert segments["care_management_action"].notna().all()
    assert segments["top_diagnoses"].str.count("; ").eq(2).all()

    profiles = db.execute("select * from marts.segment_profiles").df()
    assert not profiles.duplicated(["segment_key", "feature_name", "statistic"]).any()
    means = profiles[profiles["statistic"] == "mean"].merge(segments[["segment_key", "num_patients"]])
    zscores = profiles[profiles["statistic"] == "zscore"].merge(segments[["segment_key", "num_patients"]])
    # size-weighted segment means give back the population's totals (no fan-out in the joins)
    admissions = means[means["feature_name"] == "num_admissions"]
    assert (admissions["statistic_value"] * admissions["num_patients"]).sum() == pytest.approx(275)
    # z-scores weighted by segment size average to 0 (each is a centred segment mean)
    for feature in ["num_admissions", "total_icu_days", "charlson_comorbidity_index"]:
        part = zscores[zscores["feature_name"] == feature]
        assert (part["statistic_value"] * part["num_patients"]).sum() / 100 == pytest.approx(0.0, abs=1e-9)
    medians = profiles[profiles["statistic"] == "median"]
    for feature in ["num_admissions", "total_icu_days", "age_at_last_admission"]:
        assert len(medians[medians["feature_name"] == feature]) == 4, feature
    assert set(profiles.loc[profiles["statistic"] == "rate", "feature_name"]) == {
        "has_chronic_condition",
        "in_hospital_death",
        "died_within_1y_of_last_discharge",
    }

    wide = db.execute("select * from marts.segment_profiles_wide order by segment_key").df()
    assert wide["segment_key"].tolist() == segments["segment_key"].tolist()
    for row in profiles.itertuples():
        cell = wide.loc[wide["segment_key"] == row.segment_key, f"{row.statistic}_{row.feature_name}"].item()
        assert cell == row.statistic_value, (row.segment_key, row.feature_name, row.statistic)

    assert rows(db, "select count(*) from marts.segment_top_diagnoses where share_of_segment > 1") == [(0,)]
    mix = rows(
        db,
        "select attribute_name, count(distinct segment_key), round(sum(num_patients))"
        " from marts.segment_demographic_mix group by all order by all",
    )
    assert mix == [("age_bucket", 4, 100), ("gender", 4, 100), ("insurance", 4, 100), ("race", 4, 100)]


def test_patient_segments_carry_persona_and_action(db: duckdb.DuckDBPyConnection) -> None:
    summary = rows(
        db,
        "select count(*), count(distinct segment_name), count(care_management_action),"
        " count(*) filter (where insurance = 'Unknown'),"
        " count(*) filter (where segment_kind = 'clustered'), count(cluster_id),"
        " count(distance_to_centroid), count(outreach_priority) from marts.patient_segments",
    )
    # every demo patient was admitted at least once, so all are clustered and insurance is known
    assert summary == [(100, 4, 100, 0, 100, 100, 100, 100)]
    keys = rows(
        db, "select count(*) from marts.patient_segments where segment_key <> 'cluster_' || cluster_id"
    )
    assert keys == [(0,)]


@pytest.fixture(scope="module")
def auto_build(built: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The segmentation rebuilt on a copy of the demo database with k = auto and demographics on."""
    variables = "{cluster_k: auto, cluster_include_demographics: true}"
    env = segmentation_rebuilt_on_a_copy(built, tmp_path_factory.mktemp("auto"), variables)
    return Path(env["MIMIC_SEGMENTS_DEV_DB"])


def test_auto_k_with_demographics_end_to_end(auto_build: Path) -> None:
    with duckdb.connect(str(auto_build), read_only=True) as db:
        diagnostics = db.execute("select * from segmentation.segmentation_diagnostics order by k").df()
        chosen = diagnostics.loc[diagnostics["is_chosen"], "k"].item()
        assert diagnostics.loc[diagnostics["is_auto_choice"], "k"].item() == chosen
        assert (diagnostics["selection_mode"] == "auto").all()
        reason = diagnostics.loc[diagnostics["is_chosen"], "selection_reason"].item()
        assert reason.startswith("chosen by the auto rule")
        features = [
            r[0] for r in rows(db, "select distinct feature_name from segmentation.segment_centroids")
        ]
        assert {"age_years", "is_female"} <= set(features) and len(features) == NUM_FEATURES + 2
        assert rows(db, "select count(distinct cluster_id) from segmentation.patient_clusters") == [(chosen,)]
        personas = db.execute("select * from segmentation.segment_personas").df()
        assert len(personas) == chosen
        expected_rule = "catalogue assignment" if chosen == 4 else "descriptive"
        assert (personas["naming_rule"] == expected_rule).all()
        # the build above ran the parity test; check it here too with 8 features
        assert rows(
            db,
            "select count(*) from segmentation.patient_clusters p"
            " join segmentation.patient_nearest_centroid s using (subject_id)"
            f" where p.cluster_id = s.cluster_id and s.num_features_scored = {NUM_FEATURES + 2}",
        ) == [(100,)]
