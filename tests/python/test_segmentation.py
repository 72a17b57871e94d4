"""The pipeline the dbt Python models run (mimic_segments.segmentation.pipeline), on synthetic data."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score
from synthetic_patients import FEATURES, catalogue, persona_patients, signatures

from mimic_segments.segmentation import clustering, pipeline
from mimic_segments.segmentation.settings import VAR_KEYS, SegmentationSettings

REPO_ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = catalogue()
SIGNATURES = signatures()
CLUSTERED_NAMES = CATALOGUE.loc[CATALOGUE["persona_kind"] == "clustered", "persona_name"].tolist()

# What dbt hands the Python models: the segmentation vars as one JSON config (the YAML anchor
# in python_models/_python_models.yml), the inputs' columns and the feature catalogue seed.
DBT_VARS = {
    "k": "4",
    "k_min": "2",
    "k_max": "6",
    "random_state": "42",
    "sample_size": "500",
    "silhouette_sample_size": "300",
    "stability_resamples": "4",
    "min_stability": "0.8",
    "min_cluster_share": "0.05",
    "min_match_score": "0.5",
}
FEATURE_CATALOGUE = pd.read_csv(REPO_ROOT / "seeds" / "features" / "feature_catalogue.csv")


def settings_for(**override: object) -> SegmentationSettings:
    return SegmentationSettings.from_dbt(json.dumps({**DBT_VARS, **override}), FEATURE_CATALOGUE, FEATURES)


def inputs_frame(seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    """What int_patients_prepared_for_segmentation holds: the id, then the features."""
    frame = persona_patients(seed=seed)
    return frame[["subject_id", *FEATURES]], frame.set_index("subject_id")["group"]


def run_pipeline(inputs: pd.DataFrame, settings: SegmentationSettings) -> dict[str, pd.DataFrame]:
    diagnostics = pipeline.build_diagnostics(inputs, settings)
    centroids = pipeline.build_centroids(inputs, settings)
    return {
        "diagnostics": diagnostics,
        "centroids": centroids,
        "personas": pipeline.build_segment_personas(centroids, CATALOGUE, SIGNATURES, settings),
        "patient_clusters": pipeline.build_patient_clusters(inputs, centroids),
    }


@pytest.fixture(scope="module")
def outputs() -> dict[str, pd.DataFrame]:
    return run_pipeline(inputs_frame()[0], settings_for())


def test_settings_from_dbt() -> None:
    settings = settings_for()
    assert settings.k == 4
    assert (settings.k_min, settings.k_max, settings.random_state) == (2, 6, 42)
    # the transform and the dimensions come from the feature catalogue
    assert settings.log1p_features == tuple(FEATURES)
    assert settings.feature_dimensions["icu_stay_count"] == "acuity"
    assert settings.feature_dimensions["num_admissions"] == "utilization"
    assert (settings.sample_size, settings.silhouette_sample_size, settings.stability_resamples) == (
        500,
        300,
        4,
    )
    assert (settings.min_stability, settings.min_cluster_share, settings.min_match_score) == (0.8, 0.05, 0.5)
    assert pipeline.diagnostics_settings(settings).k_values == (2, 3, 4, 5, 6)
    assert settings_for(k="auto").k == "auto"
    # an input the catalogue does not list (a demographic encoding) enters as is, with no dimension
    extra = SegmentationSettings.from_dbt(json.dumps(DBT_VARS), FEATURE_CATALOGUE, [*FEATURES, "age_years"])
    assert "age_years" not in extra.log1p_features and "age_years" not in extra.feature_dimensions


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ({"k_min": "two"}, "'k_min' must be an integer, got 'two'"),
        ({"stability_resamples": "2.5"}, "must be an integer"),
        ({"min_stability": "high"}, "'min_stability' must be a number"),
        ({"min_match_score": 2}, "'min_match_score' must be between -1.0 and 1.0"),
        ({"k": "0"}, "k must be an integer >= 2 or 'auto'"),
        ({"k_min": 5, "k_max": 3}, "2 <= k_min <= k_max"),
        ({"colour": "blue"}, r"unknown keys \['colour'\]"),
    ],
)
def test_settings_errors_name_the_setting(override, fragment) -> None:
    with pytest.raises(ValueError, match=fragment):
        settings_for(**override)


def test_settings_config_must_be_complete_json() -> None:
    with pytest.raises(ValueError, match=r"missing keys \['k'\]"):
        SegmentationSettings.from_dbt(
            json.dumps({k: v for k, v in DBT_VARS.items() if k != "k"}), FEATURE_CATALOGUE, FEATURES
        )
    with pytest.raises(ValueError, match="is not JSON"):
        SegmentationSettings.from_dbt("{k: 4}", FEATURE_CATALOGUE, FEATURES)
    with pytest.raises(ValueError, match="'segmentation_settings' is missing"):
        SegmentationSettings.from_dbt(None, FEATURE_CATALOGUE, FEATURES)


def _config_keys_read(path: Path) -> list[str]:
    """Literal keys of ``dbt.config.get("...")`` calls in a Python model file."""
    keys = []
    for node in ast.walk(ast.parse(path.read_text())):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "get"
            and ast.unparse(node.func.value) == "dbt.config"
        ):
            keys.append(node.args[0].value)
    return keys


@pytest.mark.parametrize("model", ["segmentation_diagnostics", "segment_centroids", "segment_personas"])
def test_adapters_read_the_one_settings_config(model: str) -> None:
    # dbt hands a Python model only the configs named literally in its code: one key, once
    assert _config_keys_read(REPO_ROOT / "python_models" / f"{model}.py") == ["segmentation_settings"]


def test_the_settings_anchor_sets_every_key_once() -> None:
    text = (REPO_ROOT / "python_models" / "_python_models.yml").read_text()
    for key in VAR_KEYS:
        assert text.count(f"'{key}': var(") == 1, key
    assert text.count("segmentation_settings: >-") == 1


def test_pipeline_end_to_end(outputs) -> None:
    diagnostics = outputs["diagnostics"]
    assert diagnostics["k"].tolist() == [2, 3, 4, 5, 6]
    assert diagnostics.loc[diagnostics["is_chosen"], "k"].tolist() == [4]
    assert (diagnostics["fit_sample_size"] == 500).all()
    assert (diagnostics["silhouette_sample_size"] == 300).all()

    centroids = outputs["centroids"]
    assert len(centroids) == 4 * len(FEATURES)
    assert (centroids["transform"] == "log1p").all()

    assert sorted(outputs["personas"]["persona_name"]) == sorted(CLUSTERED_NAMES)

    clusters = outputs["patient_clusters"]
    inputs, truth = inputs_frame()
    assert len(clusters) == len(inputs)
    assert clusters["subject_id"].is_monotonic_increasing
    assert adjusted_rand_score(truth.loc[clusters["subject_id"]], clusters["cluster_id"]) >= 0.95
    sizes = clusters["cluster_id"].value_counts().sort_index().tolist()
    assert centroids.drop_duplicates("cluster_id")["cluster_size"].tolist() == sizes


def test_patient_clusters_equal_the_full_fit(outputs) -> None:
    inputs, _ = inputs_frame()
    direct = clustering.fit_segments(inputs, FEATURES, k=4, random_state=42, log1p_features=FEATURES)
    pd.testing.assert_frame_equal(outputs["patient_clusters"], direct.assignments)


def test_pipeline_is_identical_across_reruns(outputs) -> None:
    inputs, _ = inputs_frame()
    again = run_pipeline(inputs.sample(frac=1.0, random_state=3), settings_for())
    for name, frame in outputs.items():
        pd.testing.assert_frame_equal(again[name], frame, obj=name)


def test_auto_k_drives_the_fit() -> None:
    inputs, _ = inputs_frame(seed=2)
    out = run_pipeline(inputs, settings_for(k="auto"))
    chosen = out["diagnostics"].loc[out["diagnostics"]["is_chosen"], "k"].item()
    assert out["diagnostics"]["selection_mode"].eq("auto").all()
    assert out["centroids"]["cluster_id"].nunique() == chosen
    assert out["patient_clusters"]["cluster_id"].nunique() == chosen


def test_a_fixed_k_is_fitted_without_computing_the_diagnostics(monkeypatch) -> None:
    """segment_centroids can run beside segmentation_diagnostics only if it never needs them."""
    inputs, _ = inputs_frame()

    def fail(*args, **kwargs):
        raise AssertionError("a fixed k must not compute the diagnostics")

    monkeypatch.setattr(pipeline, "build_diagnostics", fail)
    assert pipeline.build_centroids(inputs, settings_for(k="3"))["cluster_id"].nunique() == 3


def test_personas_come_from_the_seeds(outputs) -> None:
    # a persona renamed in the catalogue is renamed in the output, with no code change
    renamed = CATALOGUE.assign(persona_name=CATALOGUE["persona_name"].str.upper())
    out = pipeline.build_segment_personas(outputs["centroids"], renamed, SIGNATURES, settings_for())
    assert out["persona_name"].tolist() == outputs["personas"]["persona_name"].str.upper().tolist()


def test_inputs_need_the_id_column() -> None:
    inputs, _ = inputs_frame()
    with pytest.raises(ValueError, match="id column 'subject_id' not found"):
        pipeline.feature_columns_of(inputs.drop(columns="subject_id"), settings_for())
    with pytest.raises(ValueError, match="the settings name"):
        pipeline.feature_columns_of(inputs[["subject_id", *FEATURES[:2]]], settings_for())
