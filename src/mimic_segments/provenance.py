"""Which code produced a result: the checked-out git commit of the project.

A module of the package root: every subpackage may import it (the publisher records the commit
in ``marts.build_metadata``; the validation report and the benchmark print it), and it imports
none of them. The project's version is dbt's (``version:`` in ``dbt_project.yml``, the same as
``pyproject.toml``'s): ``build_metadata`` reads it itself, on every target.
"""

from __future__ import annotations

import subprocess
from pathlib import Path


def git_commit(project_dir: Path, short: bool = False) -> str | None:
    """The checked-out commit (``-dirty`` with uncommitted changes to tracked files), or None
    outside a git checkout or without git."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", *(["--short"] if short else []), "HEAD"],
            cwd=project_dir,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=project_dir,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return f"{head}-dirty" if dirty else head
