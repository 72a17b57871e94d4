"""The segmentation report renders from the demo marts, with every figure, deterministically."""

from __future__ import annotations

import base64
import re
import struct
import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from mimic_segments import report
from mimic_segments.personas import SEED_PERSONAS

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
FIGURES = ["segment_sizes", "centroid_heatmap", "pca", "demographic_mix", "k_selection"]


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_SIGNATURE
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@pytest.fixture(scope="module")
def rendered(built: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("report")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mimic_segments.report",
            "--database",
            built["MIMIC_SEGMENTS_DB"],
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "segmentation_report.html" in result.stdout
    return out, (out / report.REPORT_NAME).read_text(encoding="utf-8")


def test_report_has_every_figure_embedded_and_on_disk(rendered) -> None:
    out, page = rendered
    embedded = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)" alt="([^"]+)">', page)
    assert len(embedded) == len(FIGURES)
    for name in FIGURES:
        on_disk = (out / "figures" / f"{name}.png").read_bytes()
        width, height = png_size(on_disk)
        assert width >= 600 and height >= 250, (name, width, height)
        assert on_disk in [base64.b64decode(data) for data, _ in embedded], name
    # self-contained: nothing is loaded from elsewhere
    assert not re.search(r'(src|href)="(?!data:)', page)


def test_report_shows_personas_actions_and_diagnostics(rendered, db: duckdb.DuckDBPyConnection) -> None:
    _, page = rendered
    for persona in SEED_PERSONAS:
        assert f"<h3>{persona.name}</h3>" in page
    for action in ["Preventive outreach", "Chronic-care programme", "High-utilizer case management"]:
        assert f"Suggested action: {action}" in page
    # one diagnostics row per k, the chosen one highlighted
    assert page.count("<tr class='chosen'>") == 1
    assert len(re.findall(r"<tr class='(?:chosen)?'><td class='num'>\d+</td>", page)) == 7
    top = db.execute("select long_title from marts.segment_top_diagnoses where diagnosis_rank = 1").fetchall()
    for (title,) in top:
        assert title.replace("'", "&#x27;") in page
    # the demo's k = 4 fails the stability rule: the report says so in plain words
    assert "Caution:" in page


def test_report_is_identical_on_rerun(rendered, built: dict[str, str], tmp_path: Path) -> None:
    out, page = rendered
    again = report.write_report(Path(built["MIMIC_SEGMENTS_DB"]), tmp_path)
    assert again.read_text(encoding="utf-8") == page
    for name in FIGURES:
        assert (tmp_path / "figures" / f"{name}.png").read_bytes() == (
            out / "figures" / f"{name}.png"
        ).read_bytes()


def test_missing_database_or_marts_say_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(report.ReportError, match="make build"):
        report.load_report_data(tmp_path / "missing.duckdb")
    empty = tmp_path / "empty.duckdb"
    duckdb.connect(str(empty)).close()
    with pytest.raises(report.ReportError, match=r"marts \['segmentation_diagnostics'.*are missing"):
        report.load_report_data(empty)
    assert report.main(["--database", str(tmp_path / "missing.duckdb"), "--out", str(tmp_path)]) == 1


def test_pca_projection_samples_large_populations() -> None:
    rng = np.random.default_rng(0)
    n, features = 3_000, ["num_admissions", "icu_stay_count"]
    patients = pd.DataFrame(
        {
            "subject_id": np.arange(n),
            "cluster_id": rng.integers(0, 2, n),
            "scaled_num_admissions": rng.normal(size=n),
            "scaled_icu_stay_count": rng.normal(size=n),
        }
    )
    centroids = pd.DataFrame(
        {
            "cluster_id": [0, 0, 1, 1],
            "feature_name": features * 2,
            "feature_position": [1, 2, 1, 2],
            "centroid_scaled": [-1.0, -1.0, 1.0, 1.0],
            "centroid_original_units": [1.0, 0.0, 5.0, 2.0],
        }
    )
    points, centres, explained, total = report.pca_projection(patients, centroids, max_points=500)
    assert len(points) == 500 and total == n
    assert explained.shape == (2,) and centres.shape == (2, 2)
    # oriented so that the higher-need centroid lies to the right
    assert centres[1, 0] > centres[0, 0]
    again = report.pca_projection(patients, centroids, max_points=500)[0]
    pd.testing.assert_frame_equal(points, again)
