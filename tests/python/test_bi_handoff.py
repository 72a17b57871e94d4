"""The BI hand-off, as a BI tool meets it: a separate, read-only process on the built database."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from mimic_segments import export

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_parquet_export_matches_the_marts(built: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "exports"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mimic_segments.export",
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
    with duckdb.connect(built["MIMIC_SEGMENTS_DB"], read_only=True) as connection:
        marts = {
            name: connection.execute(f"select count(*) from marts.{name}").fetchone()[0]
            for (name,) in connection.execute(
                "select table_name from information_schema.tables where table_schema = 'marts'"
            ).fetchall()
        }
        for name, rows in marts.items():
            parquet = out / f"{name}.parquet"
            assert connection.execute(f"select count(*) from '{parquet}'").fetchone()[0] == rows
    assert {"patient_features", "patient_clusters", "segment_profiles"} <= set(marts)
    assert f"patient_features.parquet  {marts['patient_features']:,} rows" in result.stdout


def test_export_without_a_database_says_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(export.ExportError, match="make build"):
        export.export_schema(tmp_path / "missing.duckdb", tmp_path / "out")
