"""The feature catalogue (mimic_segments.catalogue.features) and the settings parser
(mimic_segments.segmentation.settings)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mimic_segments.catalogue import features
from mimic_segments.segmentation import settings

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_the_catalogue_lists_the_clustering_inputs_in_order() -> None:
    catalogue = features.load_catalogue()
    assert features.clustered(catalogue) == [
        "num_admissions",
        "avg_length_of_stay_days",
        "total_length_of_stay_days",
        "emergency_admission_share",
        "early_readmissions",
        "num_unique_icd_diagnoses",
        "charlson_condition_score",
        "num_chronic_conditions",
        "icu_stay_count",
        "total_icu_days",
    ]
    # the proportion enters as is; every clustered count, score and day total through log1p
    assert set(features.clustered(catalogue)) - set(features.log1p_clustered(catalogue)) == {
        "emergency_admission_share"
    }
    assert set(features.dimensions(catalogue).values()) == {"utilization", "complexity", "acuity"}


def test_the_committed_macro_matches_the_catalogue() -> None:
    assert features.MACRO_PATH.read_text() == features.render_macro(features.load_catalogue())
    assert features.main(["--check"]) == 0


@pytest.mark.parametrize(
    ("edit", "fragment"),
    [
        (
            lambda text: text.replace(",numeric,true,true,true,0", ",numeric,yes,true,true,0", 1),
            "is_clustered: expected true or false",
        ),
        (lambda text: text.replace(",utilization,", ",busyness,", 1), "column dimension: 'busyness'"),
        (
            lambda text: text.replace(
                "has_chronic_condition,Has a chronic condition,yes/no,complexity,flag,false",
                "has_chronic_condition,Has a chronic condition,yes/no,complexity,flag,true",
                1,
            ),
            "cannot be clustered",
        ),
        (lambda text: text + text.splitlines()[1] + "\n", "repeated"),
        (
            lambda text: text.replace(",true,", ",false,").replace(",true,", ",false,"),
            "no feature has is_clustered true",
        ),
    ],
)
def test_catalogue_errors_name_line_and_column(tmp_path: Path, edit, fragment) -> None:
    path = tmp_path / "feature_catalogue.csv"
    path.write_text(edit(features.CATALOGUE_CSV.read_text()))
    with pytest.raises(features.CatalogueError, match=fragment):
        features.load_catalogue(path)


def test_a_stale_macro_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stale = tmp_path / "feature_catalogue.sql"
    shutil.copyfile(features.MACRO_PATH, stale)
    stale.write_text(stale.read_text().replace('"Admissions"', '"Hospital admissions"'))
    monkeypatch.setattr(features, "MACRO_PATH", stale)
    assert features.main(["--check"]) == 1
    assert features.main([]) == 0
    assert stale.read_text() == features.render_macro(features.load_catalogue())


@pytest.mark.parametrize(
    ("value", "expected"), [(4, 4), ("4", 4), (" 7 ", 7), ("auto", "auto"), (" AUTO ", "auto")]
)
def test_parse_k(value, expected) -> None:
    assert settings.parse_k(value) == expected


@pytest.mark.parametrize("value", [1, "1", "four", 2.5, True, None, ""])
def test_parse_k_rejects(value) -> None:
    with pytest.raises(ValueError, match="k must be an integer >= 2 or 'auto'"):
        settings.parse_k(value)


@pytest.mark.e2e
def test_a_new_clustering_input_is_one_catalogue_line(built: dict[str, str], tmp_path: Path) -> None:
    """Make `num_ed_visits` (already a patient_features column) a clustering input by changing
    its catalogue row alone, in a copy of the project, and rebuild the segmentation: the model,
    both scorers, the contract checks and every test follow with no other edit."""
    import subprocess
    import sys

    import duckdb
    from conftest import copy_of_the_project, rebuilt_on_a_copy

    project = copy_of_the_project(tmp_path / "project")
    catalogue = project / "seeds" / "features" / "feature_catalogue.csv"
    before = catalogue.read_text().splitlines()
    after = [
        line.replace(
            ",num_ed_visits,ED visits,visits,utilization,numeric,false,",
            ",num_ed_visits,ED visits,visits,utilization,numeric,true,",
        )
        for line in before
    ]
    assert sum(a != b for a, b in zip(before, after, strict=True)) == 1  # the one-line change
    catalogue.write_text("\n".join(after) + "\n")
    # the data step regenerates the catalogue's macro (make data runs this)
    macro = project / "macros" / "generated" / "feature_catalogue.sql"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "mimic_segments.catalogue.features",
            "--csv",
            str(catalogue),
            "--macro",
            str(macro),
        ],
        check=True,
    )

    work = tmp_path / "db"
    work.mkdir()
    env, result = rebuilt_on_a_copy(
        built,
        work,
        "--select",
        "feature_catalogue",
        "int_patients_prepared_for_segmentation+",
        project=project,
    )
    assert "WARN=0" in result.stdout
    with duckdb.connect(env["MIMIC_SEGMENTS_DEV_DB"], read_only=True) as db:
        model = db.execute(
            "select feature_name, transform from segmentation.segment_centroids"
            " where cluster_id = 0 order by feature_position"
        ).fetchall()
        assert len(model) == 11 and ("num_ed_visits", "log1p") in model
        comment = db.execute(
            "select comment from duckdb_columns() where table_name = 'patient_clusters'"
            " and column_name = 'scaled_num_ed_visits'"
        ).fetchone()
        assert comment is not None and "ED visits" in comment[0]
        scored = db.execute(
            "select min(num_features_scored) from segmentation.patient_nearest_centroid"
        ).fetchone()
        assert scored == (11,)
