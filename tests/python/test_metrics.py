"""The semantic layer (models/semantic/, docs/metrics.md): each metric, queried with MetricFlow's
`mf query` on the session's demo build, equals the value the marts hold, per segment and over
all patients; and every semantic model, entity, dimension, measure and metric is described.

`mf` reads the project's dbt_project.yml and profile (its dev target, the session's database)
and the semantic manifest at <project>/target/semantic_manifest.json: the tests give it a
directory of its own holding those three files, the manifest being the one the session's
build wrote, and opens the session's database read-only.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from conftest import REPO_ROOT

pytestmark = pytest.mark.e2e

MF = Path(sys.executable).with_name("mf")

# The mart columns the metrics are checked against (also named in models/semantic/).
SEGMENT_SIZE = "num_patients"
SHARE_OF_REGISTRY = "share_of_registry"
SHARE_OF_CLUSTERED = "share_of_clustered_population"
READMISSION_RATE = "early_readmission_rate"
RETURN_INCIDENCE = "cumulative_incidence_return"

MetricFlow = Callable[..., pd.DataFrame]


@pytest.fixture(scope="module")
def metricflow(built: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> MetricFlow:
    """`mf query --metrics ... --group-by ...` on the session's demo database, as a frame."""
    project = tmp_path_factory.mktemp("mf")
    for name in ("dbt_project.yml", "profiles.yml"):
        shutil.copyfile(REPO_ROOT / name, project / name)
    (project / "target").mkdir()
    shutil.copyfile(
        Path(built["DBT_TARGET_PATH"]) / "semantic_manifest.json",
        project / "target" / "semantic_manifest.json",
    )
    # the session's database, read-only as docs/metrics.md has BI read the published one
    env = {
        **built,
        "DBT_PROJECT_DIR": str(project),
        "DBT_PROFILES_DIR": str(project),
        "MIMIC_SEGMENTS_DUCKDB_ACCESS_MODE": "read_only",
        "DBT_LOG_PATH": str(project / "logs"),
    }
    queries = iter(range(1_000))

    def query(metrics: list[str], group_by: list[str] | None = None) -> pd.DataFrame:
        out = project / f"query_{next(queries)}.csv"
        args = [str(MF), "query", "--metrics", ",".join(metrics), "--csv", str(out), "--quiet"]
        if group_by:
            args += ["--group-by", ",".join(group_by)]
        result = subprocess.run(args, cwd=project, env=env, capture_output=True, text=True, check=False)
        assert result.returncode == 0 and out.exists(), (
            f"mf {' '.join(args[1:])}:\n{result.stdout}\n{result.stderr}"
        )
        return pd.read_csv(out)

    return query


def _marts(built: dict[str, str], sql: str) -> pd.DataFrame:
    with duckdb.connect(built["MIMIC_SEGMENTS_DEV_DB"], read_only=True) as connection:
        return connection.execute(sql).df()


def test_segment_size_and_shares_equal_the_segments_mart(
    built: dict[str, str], metricflow: MetricFlow
) -> None:
    metrics = ["segment_size", "segment_share_of_registry", "segment_share_of_clustered_population"]
    got = metricflow(metrics, ["segment__segment_key"]).set_index("segment__segment_key").sort_index()
    mart = (
        _marts(
            built,
            f"select segment_key, {SEGMENT_SIZE}, {SHARE_OF_REGISTRY}, {SHARE_OF_CLUSTERED}"
            " from marts.segments",
        )
        .set_index("segment_key")
        .sort_index()
    )
    assert list(got.index) == list(mart.index) and len(mart) >= 4
    assert got["segment_size"].tolist() == mart[SEGMENT_SIZE].tolist()
    assert got["segment_share_of_registry"].tolist() == pytest.approx(
        mart[SHARE_OF_REGISTRY].tolist(), abs=1e-12
    )
    clustered = mart[SHARE_OF_CLUSTERED].notna()
    assert got["segment_share_of_clustered_population"].isna().tolist() == (~clustered).tolist()
    assert got.loc[clustered, "segment_share_of_clustered_population"].tolist() == pytest.approx(
        mart.loc[clustered, SHARE_OF_CLUSTERED].tolist(), abs=1e-12
    )
    # over all segments: the registry, all of it
    overall = metricflow(metrics).iloc[0]
    assert overall["segment_size"] == 100
    assert overall["segment_share_of_registry"] == pytest.approx(1.0)
    assert overall["segment_share_of_clustered_population"] == pytest.approx(1.0)


def test_early_readmission_rate_pools_the_index_stays_as_the_segments_mart(
    built: dict[str, str], metricflow: MetricFlow
) -> None:
    metrics = ["early_readmission_rate", "early_readmissions", "readmission_index_stays"]
    got = (
        metricflow(metrics, ["segment__segment_key"]).set_index("patient__segment__segment_key").sort_index()
    )
    mart = _marts(built, f"select segment_key, {READMISSION_RATE} from marts.segments").set_index(
        "segment_key"
    )
    mart = mart.sort_index()
    assert list(got.index) == list(mart.index)
    assert got["early_readmission_rate"].tolist() == pytest.approx(mart[READMISSION_RATE].tolist(), rel=1e-9)
    assert (got["early_readmission_rate"] == got["early_readmissions"] / got["readmission_index_stays"]).all()
    # the demo's 44 early readmissions of 217 index stays, pooled rather than averaged
    overall = metricflow(metrics).iloc[0]
    assert (overall["early_readmissions"], overall["readmission_index_stays"]) == (44, 217)
    assert overall["early_readmission_rate"] == pytest.approx(44 / 217)
    patients_mean = _marts(built, "select avg(readmission_rate) as rate from segmentation.patient_features")[
        "rate"
    ][0]
    assert abs(overall["early_readmission_rate"] - patients_mean) > 0.01


def test_return_by_day_30_90_365_are_the_primary_curves(
    built: dict[str, str], metricflow: MetricFlow
) -> None:
    metrics = ["return_by_day_30", "return_by_day_90", "return_by_day_365"]
    got = (
        metricflow(metrics, ["return_curve__segment_key"]).set_index("return_curve__segment_key").sort_index()
    )
    mart = (
        _marts(
            built,
            f"select segment_key, follow_up_day, {RETURN_INCIDENCE} from marts.segment_return_curves"
            " where is_primary_assumption and follow_up_day in (30, 90, 365)",
        )
        .pivot(index="segment_key", columns="follow_up_day", values=RETURN_INCIDENCE)
        .sort_index()
    )
    assert list(got.index) == list(mart.index) and "overall" in got.index
    for day in (30, 90, 365):
        assert got[f"return_by_day_{day}"].tolist() == pytest.approx(mart[day].tolist(), rel=1e-9)
    # real returns, growing with the follow-up
    assert 0 < got.loc["overall", "return_by_day_30"] < got.loc["overall", "return_by_day_365"] < 1
    # grouped by the segment's own key, the curve of all patients has none
    by_segment = metricflow(["return_by_day_30"], ["segment__segment_key"])
    assert by_segment["segment__segment_key"].isna().sum() == 1
    assert by_segment.dropna()["return_by_day_30"].sort_values().tolist() == pytest.approx(
        got.drop(index="overall")["return_by_day_30"].sort_values().tolist(), rel=1e-9
    )


def test_mean_lace_score_per_discharge_and_per_last_discharge(
    built: dict[str, str], metricflow: MetricFlow
) -> None:
    # per index discharge, each counted once: the scores' mart
    got = metricflow(["mean_lace_score"], ["segment__segment_key"]).set_index("patient__segment__segment_key")
    mart = _marts(
        built,
        "select segment_key, avg(lace_score) as mean_lace_score, count(*) as discharges"
        " from marts.readmission_risk_scores inner join marts.patient_segments using (subject_id)"
        " group by segment_key",
    ).set_index("segment_key")
    assert got["mean_lace_score"].sort_index().tolist() == pytest.approx(
        mart["mean_lace_score"].sort_index().tolist(), rel=1e-12
    )
    assert mart["discharges"].sum() == 217
    overall = metricflow(["mean_lace_score"]).iloc[0]["mean_lace_score"]
    scores = _marts(built, "select avg(lace_score) as m from marts.readmission_risk_scores")["m"][0]
    assert overall == pytest.approx(scores, rel=1e-12) and 0 < overall < 19
    # per patient by their last index discharge, per segment and band: segment_lace_bands
    got = metricflow(
        ["mean_lace_score_last_discharge"], ["segment__segment_key", "index_discharge__lace_risk_band"]
    ).set_index(["patient__segment__segment_key", "index_discharge__lace_risk_band"])
    bands = _marts(
        built,
        "select segment_key, lace_risk_band, mean_lace_score from marts.segment_lace_bands"
        " where mean_lace_score is not null",
    ).set_index(["segment_key", "lace_risk_band"])
    assert sorted(got.index) == sorted(bands.index)
    assert got["mean_lace_score_last_discharge"].sort_index().tolist() == pytest.approx(
        bands["mean_lace_score"].sort_index().tolist(), rel=1e-12
    )


def test_metrics_of_one_grain_come_in_one_query(metricflow: MetricFlow) -> None:
    """Per patient and per index discharge: both reach the segment through the patient."""
    got = metricflow(["early_readmission_rate", "mean_lace_score", "segment_size"])
    assert got.iloc[0]["segment_size"] == 100
    together = metricflow(["early_readmission_rate", "mean_lace_score"], ["segment__segment_key"])
    assert len(together) >= 4 and together.notna().all().all()


def test_every_semantic_element_is_described(built: dict[str, str]) -> None:
    manifest = json.loads((Path(built["DBT_TARGET_PATH"]) / "semantic_manifest.json").read_text())
    undescribed = [
        f"{model['name']}.{element['name']}"
        for model in manifest["semantic_models"]
        for kind in ("entities", "dimensions", "measures")
        for element in model[kind]
        if not (element.get("description") or "").strip()
    ]
    undescribed += [
        m["name"] for m in manifest["semantic_models"] if not (m.get("description") or "").strip()
    ]
    undescribed += [m["name"] for m in manifest["metrics"] if not (m.get("description") or "").strip()]
    assert undescribed == []
    assert {m["name"] for m in manifest["metrics"]} >= {
        "segment_size",
        "segment_share_of_registry",
        "early_readmission_rate",
        "return_by_day_30",
        "return_by_day_90",
        "return_by_day_365",
        "mean_lace_score",
    }
