"""Running dbt for a publisher: the data step's check, dbt's vars and environment, its output.

Both publishers (``duckdb_file`` and ``schema_swap``) run ``dbt`` through these: the check
that ``make data`` produced dbt's inputs, ``--vars`` (full-release mode's, then ``DBT_VARS``),
the git commit ``marts.build_metadata`` records, and the run itself, streamed to the terminal
and captured for the failure report.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

import yaml

from mimic_segments.provenance import git_commit
from mimic_segments.publishing.errors import PublishError

DEMO_MANIFEST = Path("seeds") / "mimic_demo" / ".manifest.json"
REFERENCE_MANIFEST = Path("seeds") / "reference" / ".manifest.json"
# models/marts/build_metadata.sql reads it; a dbt run by hand leaves it unset
GIT_COMMIT_ENV = "MIMIC_SEGMENTS_GIT_COMMIT"


def check_data_step(project_dir: Path, release: bool) -> None:
    """Fail with the make target to run when the data step has not produced dbt's inputs."""
    needed = [REFERENCE_MANIFEST] if release else [DEMO_MANIFEST, REFERENCE_MANIFEST]
    missing = [str(path) for path in needed if not (project_dir / path).is_file()]
    if missing:
        raise PublishError(
            f"The data step has not run (or was interrupted): missing {', '.join(missing)}. "
            "Run `make data` (or `make build`, which runs it first), then build again."
        )


def check_release_dir(env: dict[str, str], release: bool) -> None:
    """A ``MIMIC_RELEASE_DIR`` that is set is read or refused, never ignored: a release build
    needs the folder to exist (dbt's on-run-start check then verifies its layout and columns),
    and a demo build, which would not read it, refuses to run while it is set."""
    release_dir = env.get("MIMIC_RELEASE_DIR", "")
    if not release_dir:
        return
    if not release:
        raise PublishError(
            f"MIMIC_RELEASE_DIR is set ({release_dir}), but this is a demo build, which would not read "
            "it: run `make release-build` to build that release, or unset MIMIC_RELEASE_DIR to build "
            "the demo."
        )
    path = Path(release_dir)
    if not path.is_dir():
        what = "is not a folder" if path.exists() else "does not exist"
        raise PublishError(
            f"MIMIC_RELEASE_DIR={release_dir} {what}: point it at a MIMIC-IV release in its official "
            "layout (the folder holding hosp/ and icu/)."
        )


def release_vars(env: dict[str, str]) -> str:
    """The dbt --vars of full-release mode, as JSON (no shell quoting involved)."""
    release_dir = env.get("MIMIC_RELEASE_DIR", "")
    if not release_dir:
        raise PublishError("set MIMIC_RELEASE_DIR to a MIMIC-IV release (hosp/, icu/)")
    values: dict[str, Any] = {
        "mimic_source_mode": "release",
        "mimic_release_dir": release_dir,
        "mimic_release_format": env.get("MIMIC_RELEASE_FORMAT") or "csv",
        "mimic_last_data_year": int(env.get("MIMIC_LAST_DATA_YEAR") or 2019),
    }
    return json.dumps(values, ensure_ascii=False)


def dbt_vars_args(env: dict[str, str], release: bool, **extra: Any) -> list[str]:
    """``--vars`` for dbt: full-release mode's (if ``release``), then ``DBT_VARS``, then ``extra``."""
    dbt_vars = {
        **(json.loads(release_vars(env)) if release else {}),
        **(yaml.safe_load(env.get("DBT_VARS") or "") or {}),
        **extra,
    }
    return ["--vars", json.dumps(dbt_vars, ensure_ascii=False)] if dbt_vars else []


def dbt_target_dir(project_dir: Path, env: dict[str, str]) -> Path:
    """Where dbt writes manifest.json and run_results.json (``DBT_TARGET_PATH``, else target/)."""
    target_dir = Path(env.get("DBT_TARGET_PATH") or project_dir / "target")
    return target_dir if target_dir.is_absolute() else project_dir / target_dir


def dbt_executable() -> list[str]:
    """The dbt installed beside this interpreter (the project's .venv)."""
    return [str(Path(sys.executable).with_name("dbt"))]


def provenance_env(project_dir: Path) -> dict[str, str]:
    """The environment that lets ``build_metadata`` record the commit the build ran from."""
    return {GIT_COMMIT_ENV: git_commit(project_dir) or "unknown (not a git checkout)"}


def run_streaming(command: Sequence[str], cwd: Path, env: dict[str, str], out: TextIO) -> tuple[int, str]:
    """Run ``command``, copying its output to ``out`` as it comes; return its exit code and output."""
    process = subprocess.Popen(
        list(command),
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        encoding="utf-8",
        errors="replace",
    )
    captured: list[str] = []
    assert process.stdout is not None
    for line in process.stdout:
        out.write(line)
        out.flush()
        captured.append(line)
    return process.wait(), "".join(captured)


def build_summary(info: dict[str, Any] | None) -> str:
    """A ``build_metadata`` row as one line for ``status`` (without the long vars JSON)."""
    if not info:
        return "none"
    return ", ".join(f"{k}={v}" for k, v in info.items() if k != "result_vars_json")
