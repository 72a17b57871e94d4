"""The pipeline the dbt Python models run (mimic_segments.segmentation), on synthetic data."""

from __future__ import annotations

import ast
from pathlib import Path

import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score
from synthetic_patients import FEATURES, catalogue, persona_patients, signatures

from mimic_segments import clustering, segmentation
from mimic_segments.segmentation import CONFIG_KEYS, SegmentationConfig

REPO_ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = catalogue()
SIGNATURES = signatures()
CLUSTERED_NAMES = CATALOGUE.loc[CATALOGUE["persona_kind"] == "clustered", "persona_name"].tolist()

DBT_CONFIGS = {
    "cluster_k": "4",
    "cluster_k_min": "2",
    "cluster_k_max": "6",
    "cluster_random_state": "42",
    "cluster_log1p_features": ",".join(FEATURES),
    "cluster_diagnostics_sample_size": "500",
    "cluster_silhouette_sample_size": "300",
    "cluster_stability_resamples": "4",
    "cluster_min_stability": "0.8",
    "cluster_min_segment_share": "0.05",
}


def inputs_frame(seed: int = 0) -> tuple[pd.DataFrame, pd.Series]:
    """What int_patients_prepared_for_segmentation holds: the id, then the features."""
    frame = persona_patients(seed=seed)
    return frame[["subject_id", *FEATURES]], frame.set_index("subject_id")["group"]


def run_pipeline(inputs: pd.DataFrame, configs: dict[str, str]) -> dict[str, pd.DataFrame]:
    config = SegmentationConfig.from_configs(configs)
    diagnostics = segmentation.build_diagnostics(inputs, config)
    centroids = segmentation.build_centroids(inputs, config)
    return {
        "diagnostics": diagnostics,
        "centroids": centroids,
        "personas": segmentation.build_segment_personas(centroids, CATALOGUE, SIGNATURES, "0.5"),
        "patient_clusters": segmentation.build_patient_clusters(inputs, centroids),
    }


@pytest.fixture(scope="module")
def outputs() -> dict[str, pd.DataFrame]:
    return run_pipeline(inputs_frame()[0], DBT_CONFIGS)


def test_config_from_dbt_strings() -> None:
    config = SegmentationConfig.from_configs(DBT_CONFIGS)
    assert config.k == 4
    assert (config.k_min, config.k_max, config.random_state) == (2, 6, 42)
    assert config.log1p_features == tuple(FEATURES)
    assert (config.sample_size, config.silhouette_sample_size, config.stability_resamples) == (500, 300, 4)
    assert (config.min_stability, config.min_cluster_share) == (0.8, 0.05)
    assert config.diagnostics_settings().k_values == (2, 3, 4, 5, 6)
    assert SegmentationConfig.from_configs({**DBT_CONFIGS, "cluster_k": "auto"}).k == "auto"
    assert SegmentationConfig.from_configs({**DBT_CONFIGS, "cluster_log1p_features": ""}).log1p_features == ()


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ({"cluster_k": None}, r"configs missing .*\['cluster_k'\]"),
        ({"cluster_k_min": "two"}, "'cluster_k_min' must be an integer, got 'two'"),
        ({"cluster_stability_resamples": "2.5"}, "must be an integer"),
        ({"cluster_min_stability": "high"}, "'cluster_min_stability' must be a number"),
        ({"cluster_k": "0"}, "k must be an integer >= 2 or 'auto'"),
    ],
)
def test_config_errors(override, fragment) -> None:
    with pytest.raises(ValueError, match=fragment):
        SegmentationConfig.from_configs({**DBT_CONFIGS, **override})


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


@pytest.mark.parametrize("model", ["segmentation_diagnostics", "segment_centroids"])
def test_adapters_read_every_config_key(model: str) -> None:
    # dbt hands a Python model only the configs named literally in its code
    assert _config_keys_read(REPO_ROOT / "python_models" / f"{model}.py") == list(CONFIG_KEYS)


def test_persona_adapter_reads_the_weak_match_threshold() -> None:
    keys = _config_keys_read(REPO_ROOT / "python_models" / "segment_personas.py")
    assert keys == ["persona_min_match_score"]


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
    again = run_pipeline(inputs.sample(frac=1.0, random_state=3), DBT_CONFIGS)
    for name, frame in outputs.items():
        pd.testing.assert_frame_equal(again[name], frame, obj=name)


def test_auto_k_drives_the_fit() -> None:
    inputs, _ = inputs_frame(seed=2)
    out = run_pipeline(inputs, {**DBT_CONFIGS, "cluster_k": "auto"})
    chosen = out["diagnostics"].loc[out["diagnostics"]["is_chosen"], "k"].item()
    assert out["diagnostics"]["selection_mode"].eq("auto").all()
    assert out["centroids"]["cluster_id"].nunique() == chosen
    assert out["patient_clusters"]["cluster_id"].nunique() == chosen


def test_a_fixed_k_is_fitted_without_computing_the_diagnostics(monkeypatch) -> None:
    """segment_centroids can run beside segmentation_diagnostics only if it never needs them."""
    inputs, _ = inputs_frame()

    def fail(*args, **kwargs):
        raise AssertionError("a fixed k must not compute the diagnostics")

    monkeypatch.setattr(segmentation, "build_diagnostics", fail)
    config = SegmentationConfig.from_configs({**DBT_CONFIGS, "cluster_k": "3"})
    assert segmentation.build_centroids(inputs, config)["cluster_id"].nunique() == 3


def test_personas_come_from_the_seeds(outputs) -> None:
    # a persona renamed in the catalogue is renamed in the output, with no code change
    renamed = CATALOGUE.assign(persona_name=CATALOGUE["persona_name"].str.upper())
    out = segmentation.build_segment_personas(outputs["centroids"], renamed, SIGNATURES, 0.5)
    assert out["persona_name"].tolist() == outputs["personas"]["persona_name"].str.upper().tolist()
    with pytest.raises(ValueError, match="persona_min_match_score' must be a number"):
        segmentation.build_segment_personas(outputs["centroids"], CATALOGUE, SIGNATURES, "strong")


def test_inputs_need_the_id_column() -> None:
    inputs, _ = inputs_frame()
    with pytest.raises(ValueError, match="id column 'subject_id' not found"):
        segmentation.feature_columns_of(inputs.drop(columns="subject_id"))
