"""Shared fixtures: one `dbt build` of the real demo per test session, in a temp directory.

The build goes to a temporary DuckDB file (MIMIC_SEGMENTS_DEV_DB) with its own target and log paths,
so tests never touch a developer's database or docs site. Under pytest-xdist (`make test`) each
worker is a session of its own, so each builds the demo once, in its own temp directory; the data
step, which writes into the checkout's seeds/, runs under a lock.

Every test that runs dbt, or reads a database dbt built, is marked `e2e`: by its module, or here
when it uses the session's build (`dbt_env` and the fixtures built on it). `make test-fast` runs
the others.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from mimic_segments.sources import ccsr, demo, reference
from mimic_segments.synthetic.generator import generate_release

REPO_ROOT = Path(__file__).resolve().parents[2]
DBT = Path(sys.executable).with_name("dbt")


def _demo_source_dir() -> Path | None:
    """The local copy of the release CI and developers point at, if any."""
    configured = os.environ.get("MIMIC_DEMO_DIR")
    if configured:
        return Path(configured)
    sibling = REPO_ROOT.parent / "shared" / "mimic-iv-demo" / "2.2"
    return sibling if sibling.is_dir() else None


@contextlib.contextmanager
def data_step_lock() -> Iterator[None]:
    """One data step at a time in this checkout: pytest-xdist's workers would otherwise write
    the same files of seeds/ at once. An exclusive lock on the folder, released on close."""
    descriptor = os.open(REPO_ROOT / "seeds", os.O_RDONLY)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark `e2e` every test that uses the session's dbt build, whatever its module says."""
    for item in items:
        if "dbt_env" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.e2e)


def generated_release(out: Path, patients: int, seed: int) -> Path:
    """A generated MIMIC-IV 3.1-shaped release in ``out``, with the reference seed that
    full-release mode needs from the data step."""
    with data_step_lock():
        reference.build_reference(REPO_ROOT / reference.DEFAULT_DEST)
        ccsr.build_ccsr_reference(REPO_ROOT / reference.DEFAULT_DEST)
    generate_release(out, patients, seed=seed, release="3.1")
    return out


def copy_of_the_project(project: Path) -> Path:
    """A copy of the checkout in ``project``: the files git tracks (or would), as they are in the
    working tree, and the data step's git-ignored seeds. For changing a file, or for dbt run
    from another directory, without touching the checkout."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\0")
    for name in filter(None, listed):
        if (REPO_ROOT / name).is_file():
            (project / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(REPO_ROOT / name, project / name)
    for data in ("seeds/mimic_demo", "seeds/reference"):
        shutil.copytree(REPO_ROOT / data, project / data)
    return project


def dbt_result(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`dbt *args` in the project, whatever its outcome (for tests that expect a failure)."""
    return subprocess.run(
        [str(DBT), *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=False
    )


def run_dbt(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    result = dbt_result(env, *args)
    assert result.returncode == 0, f"dbt {' '.join(args)} failed:\n{result.stdout[-6000:]}\n{result.stderr}"
    return result


@pytest.fixture(scope="session")
def dbt_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    # The data steps are idempotent: a no-op when seeds/mimic_demo/ and seeds/reference/ are
    # already verified.
    with data_step_lock():
        demo.fetch_demo(REPO_ROOT / demo.DEFAULT_DEST, source_dir=_demo_source_dir())
        reference.build_reference(REPO_ROOT / reference.DEFAULT_DEST)
        ccsr.build_ccsr_reference(REPO_ROOT / reference.DEFAULT_DEST)
    work = tmp_path_factory.mktemp("dbt")
    env = dict(os.environ)
    env.update(
        DBT_PROFILES_DIR=str(REPO_ROOT),
        MIMIC_SEGMENTS_DEV_DB=str(work / "e2e.duckdb"),
        DBT_TARGET_PATH=str(work / "target"),
        DBT_LOG_PATH=str(work / "logs"),
        DBT_SEND_ANONYMOUS_USAGE_STATS="false",
    )
    return env


@pytest.fixture(scope="session")
def built(dbt_env: dict[str, str]) -> dict[str, str]:
    result = run_dbt(dbt_env, "build")
    assert "ERROR=0" in result.stdout and "WARN=0" in result.stdout
    return dbt_env


def rebuilt_on_a_copy(
    built: dict[str, str], work: Path, *dbt_args: str, project: Path | None = None
) -> tuple[dict[str, str], subprocess.CompletedProcess[str]]:
    """`dbt build *dbt_args` on a copy of the session's demo database (same file name, in
    ``work``), optionally with another project directory; returns its dbt env and the result."""
    copy = work / Path(built["MIMIC_SEGMENTS_DEV_DB"]).name
    shutil.copyfile(built["MIMIC_SEGMENTS_DEV_DB"], copy)
    env = {
        **built,
        "MIMIC_SEGMENTS_DEV_DB": str(copy),
        "DBT_TARGET_PATH": str(work / "target"),
        "DBT_LOG_PATH": str(work / "logs"),
    }
    if project is not None:
        env["DBT_PROFILES_DIR"] = str(project)
        dbt_args = ("--project-dir", str(project), *dbt_args)
    result = run_dbt(env, "build", *dbt_args)
    assert "ERROR=0" in result.stdout
    return env, result


def segmentation_rebuilt_on_a_copy(built: dict[str, str], work: Path, variables: str) -> dict[str, str]:
    """The segmentation (int_patients_prepared_for_segmentation and everything after it)
    rebuilt with other vars on a copy of the session's demo database; returns its dbt env."""
    env, _ = rebuilt_on_a_copy(
        built, work, "--select", "int_patients_prepared_for_segmentation+", "--vars", variables
    )
    return env


def assert_same_values(left: pd.DataFrame, right: pd.DataFrame, rtol: float = 1e-9) -> None:
    """Same columns, rows and values; floating point within rtol, everything else exactly."""
    assert list(left.columns) == list(right.columns)
    assert len(left) == len(right)
    for column in left.columns:
        a, b = left[column], right[column]
        assert (a.isna() == b.isna()).all(), f"{column}: NULLs differ"
        present = ~a.isna()
        a, b = a[present], b[present]
        if pd.api.types.is_float_dtype(a) or pd.api.types.is_float_dtype(b):
            assert np.allclose(a.astype(float), b.astype(float), rtol=rtol, atol=0), column
        elif pd.api.types.is_datetime64_any_dtype(a) or pd.api.types.is_datetime64_any_dtype(b):
            # DuckDB hands pandas a date as datetime64, psycopg2 as datetime.date
            assert (pd.to_datetime(a).to_numpy() == pd.to_datetime(b).to_numpy()).all(), column
        else:
            assert [str(x) for x in a] == [str(x) for x in b], column


DbtRunner = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="session")
def dbt(built: dict[str, str]) -> DbtRunner:
    """Run a dbt command against the session's built demo database."""

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return run_dbt(built, *args)

    return run


@pytest.fixture()
def db(built: dict[str, str]) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect(built["MIMIC_SEGMENTS_DEV_DB"], read_only=True)
    yield connection
    connection.close()
