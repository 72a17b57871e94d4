"""dbt by hand and make: two databases. `dbt build` by hand (the profile's default `dev` target)
writes target/dev.duckdb, which nothing publishes; only `make build` replaces the published
database BI reads (the `prod` target, through the publisher: test_publish.py, test_bad_inputs.py).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import duckdb
import pytest
import yaml
from conftest import DBT, REPO_ROOT, copy_of_the_project

import mimic_segments

# A second process opening the file read-write, as dbt-duckdb does: refused while a reader holds it.
OPEN_READ_WRITE = "import sys, duckdb; duckdb.connect(sys.argv[1]).close()"


def project_version() -> str:
    return str(yaml.safe_load((REPO_ROOT / "dbt_project.yml").read_text())["version"])


def test_the_version_is_the_same_in_dbt_pyproject_and_the_package() -> None:
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert project_version() == pyproject == metadata.version("mimic-segments") == mimic_segments.__version__


def fingerprint(path: Path) -> tuple[str, int]:
    return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns


@pytest.mark.e2e
def test_dbt_build_by_hand_leaves_the_published_database_and_its_reader_alone(
    built: dict[str, str], tmp_path: Path
) -> None:
    # a checkout (a copy, so that dbt's default paths land in it) with a published database,
    # at the default path BI reads, and a BI reader connected to it
    project = copy_of_the_project(tmp_path / "project")
    published = project / "mimic_segments.duckdb"
    published.write_bytes(Path(built["MIMIC_SEGMENTS_DEV_DB"]).read_bytes())
    before = fingerprint(published)
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("MIMIC_SEGMENTS_DEV_DB", "DBT_TARGET_PATH", "DBT_LOG_PATH", "DBT_TARGET")
    }
    # set as make and BI use it: a hand build does not read it
    env.update(MIMIC_SEGMENTS_DB=str(published), DBT_PROFILES_DIR=str(project))
    with duckdb.connect(str(published), read_only=True) as reader:
        (published_build,) = reader.execute("select build_id from marts.build_metadata").fetchone()
        # the hazard is real: while the reader is connected, a writer of this file is refused
        refused = subprocess.run(
            [sys.executable, "-c", OPEN_READ_WRITE, str(published)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert refused.returncode != 0 and "lock" in refused.stderr.lower()

        result = subprocess.run(
            [str(DBT), "build", "--select", "+build_metadata"],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr
        assert "ERROR=0" in result.stdout and "target='dev'" in result.stdout
        assert reader.execute("select build_id from marts.build_metadata").fetchone() == (published_build,)
    assert fingerprint(published) == before
    assert not Path(f"{published}.wal").exists()

    with duckdb.connect(str(project / "target" / "dev.duckdb"), read_only=True) as dev:
        build_id, version, commit = dev.execute(
            "select build_id, project_version, git_commit from marts.build_metadata"
        ).fetchone()
    assert build_id != published_build
    assert version == project_version()
    assert commit == "not recorded (target dev, built without the publisher)"
