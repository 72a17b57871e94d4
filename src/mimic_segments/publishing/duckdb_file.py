"""The DuckDB-file publisher: build into a candidate file, test it there, then rename it in.

``build`` (``make build``, ``make dbt-build``, ``make release-build``):

1. takes the lock ``<db>.lock`` (a second build at the same time is refused, naming the pid
   that holds it; the lock is released by the kernel if a build dies);
2. checks that the data step produced what dbt needs (else names ``make data``);
3. runs ``dbt build --target prod``: the profile's ``prod`` target writes the file named by
   ``MIMIC_SEGMENTS_CANDIDATE_DB``, set here to the candidate ``<db>.candidate/<db name>``.
   Every model and every test runs there, while BI readers keep the published ``<db>`` open;
4. only if every node passed: CHECKPOINTs and closes the candidate, keeps the published file as
   ``<db>.previous/<db name>`` (a hard link, so ``<db>`` never disappears), and renames the
   candidate over ``<db>`` in one ``os.replace``. Connected readers keep the version they
   opened; new connections get the new one.

On failure the published file is not touched, the failing nodes are listed (``failures``), and
the candidate is kept for inspection. The candidate and previous files live in directories
named after ``<db>`` and keep its file name (DuckDB names the database catalog after the file's
stem; in the candidate's name quote characters become ``_``, which dbt-duckdb cannot quote).

``rollback`` swaps the published and the previous version; ``status`` prints both builds.

The published database is ``MIMIC_SEGMENTS_DB`` (default ``mimic_segments.duckdb``), the file
BI tools, the report and the export read. ``dbt build`` by hand uses the profile's ``dev``
target, another file (``target/dev.duckdb``), and never touches it.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import duckdb

from mimic_segments.publishing.dbt_run import (
    build_summary,
    check_data_step,
    check_release_dir,
    dbt_executable,
    dbt_target_dir,
    dbt_vars_args,
    provenance_env,
    run_streaming,
)
from mimic_segments.publishing.errors import BuildLockedError, PublishError
from mimic_segments.publishing.failures import failure_report, locate_failures

PUBLISHED_DATABASE_ENV = "MIMIC_SEGMENTS_DB"
DEFAULT_DATABASE = "mimic_segments.duckdb"
# profiles.yml: the target a publisher builds with, and the variable naming the file it writes
PROD_TARGET = "prod"
CANDIDATE_ENV = "MIMIC_SEGMENTS_CANDIDATE_DB"


def published_database(env: Mapping[str, str] = os.environ) -> Path:
    """The published database BI reads: ``MIMIC_SEGMENTS_DB``, else ``mimic_segments.duckdb``."""
    return Path(env.get(PUBLISHED_DATABASE_ENV) or DEFAULT_DATABASE)


@dataclass(frozen=True)
class Paths:
    """Where the published database, its candidate, its previous version and the lock live."""

    published: Path

    @classmethod
    def for_database(cls, database: str | os.PathLike[str]) -> Paths:
        return cls(Path(os.path.abspath(database)))

    @property
    def candidate(self) -> Path:
        # dbt-duckdb names the catalog after the file's stem and does not escape quotes in it;
        # DuckDB stores views without the catalog, so the published file may have any name.
        name = self.published.name.replace("'", "_").replace('"', "_")
        return self.published.with_name(self.published.name + ".candidate") / name

    @property
    def previous(self) -> Path:
        return self.published.with_name(self.published.name + ".previous") / self.published.name

    @property
    def lock(self) -> Path:
        return self.published.with_name(self.published.name + ".lock")


def wal(path: Path) -> Path:
    return path.with_name(path.name + ".wal")


@contextlib.contextmanager
def build_lock(paths: Paths) -> Iterator[None]:
    """Hold ``<db>.lock`` exclusively for the duration of a build or a rollback."""
    paths.lock.parent.mkdir(parents=True, exist_ok=True)
    with open(paths.lock, "a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            if error.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            handle.seek(0)
            holder = handle.read().strip() or "unknown process"
            raise BuildLockedError(
                f"Another build of {paths.published} is running ({holder}); this one is refused. "
                f"Wait for it to finish (the lock file is {paths.lock})."
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}, since {time.strftime('%Y-%m-%d %H:%M:%S %Z')}\n")
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)


def _remove(path: Path) -> None:
    for target in (path, wal(path)):
        with contextlib.suppress(FileNotFoundError):
            target.unlink()


def _checkpoint(database: Path) -> str | None:
    """CHECKPOINT and close the candidate, so it is one self-contained file; return its build id."""
    with duckdb.connect(str(database)) as connection:
        connection.execute("checkpoint")
        row = None
        with contextlib.suppress(duckdb.Error):
            row = connection.execute("select build_id from marts.build_metadata").fetchone()
    if wal(database).exists():
        raise PublishError(f"{database} still has a write-ahead log after CHECKPOINT; not publishing")
    return None if row is None else str(row[0])


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _keep_as_previous(paths: Paths) -> None:
    """Hard-link the published file as the previous version (``<db>`` itself stays in place)."""
    if not paths.published.exists():
        return
    paths.previous.parent.mkdir(exist_ok=True)
    staging = paths.previous.with_name(paths.previous.name + ".tmp")
    _remove(staging)
    try:
        os.link(paths.published, staging)
    except OSError:
        shutil.copy2(paths.published, staging)
    os.replace(staging, paths.previous)
    _remove(wal(paths.previous))


def publish_candidate(paths: Paths) -> None:
    """Switch the candidate in as the published database: one atomic rename."""
    if wal(paths.published).exists():
        # a log left by a writer of the old file must not be replayed into the new one
        raise PublishError(
            f"{wal(paths.published)} exists: a process wrote to the published database directly. "
            "Close it (or remove the log if no process is running) and build again."
        )
    _keep_as_previous(paths)
    os.replace(paths.candidate, paths.published)
    _fsync_dir(paths.published.parent)
    with contextlib.suppress(OSError):
        paths.candidate.parent.rmdir()


def rollback(paths: Paths) -> None:
    """Swap the published database and the previous version (run it again to undo)."""
    with build_lock(paths):
        if not paths.previous.is_file():
            raise PublishError(f"No previous version to roll back to ({paths.previous} does not exist).")
        swap = paths.previous.with_name(paths.previous.name + ".swap")
        _remove(swap)
        if paths.published.exists():
            os.link(paths.published, swap)
        os.replace(paths.previous, paths.published)
        if swap.exists():
            os.replace(swap, paths.previous)
        _fsync_dir(paths.published.parent)


def build_of(database: Path) -> dict[str, Any] | None:
    """The row of ``marts.build_metadata`` in ``database`` (read-only), or None without one
    (a database another process holds open read-write raises duckdb.IOException).

    For labels: the report, a dashboard, ``status``."""
    if not database.is_file():
        return None
    try:
        with duckdb.connect(str(database), read_only=True) as connection:
            cursor = connection.execute("select * from marts.build_metadata")
            columns = [d[0] for d in cursor.description or []]
            row = cursor.fetchone()
    except duckdb.CatalogException:
        return None
    return None if row is None else dict(zip(columns, row, strict=True))


def status(paths: Paths, out: TextIO | None = None) -> None:
    """Print which build is published and which is kept for rollback (to stdout by default)."""
    out = out or sys.stdout
    for label, path in (("published", paths.published), ("previous", paths.previous)):
        try:
            info = build_of(path)
        except duckdb.Error as error:
            out.write(f"{label}: {path}: cannot be read ({error})\n")
            continue
        out.write(f"{label}: {path}: {build_summary(info)}\n")


def build(
    project_dir: Path,
    database: str | os.PathLike[str],
    dbt_args: Sequence[str] = (),
    release: bool = False,
    env: dict[str, str] | None = None,
    dbt: Sequence[str] | None = None,
    out: TextIO = sys.stdout,
) -> str | None:
    """Build into the candidate, test it, and publish it; return the published build id."""
    base_env = dict(os.environ if env is None else env)
    paths = Paths.for_database(database)
    with build_lock(paths):
        check_data_step(project_dir, release)
        check_release_dir(base_env, release)
        vars_args = dbt_vars_args(base_env, release)
        paths.candidate.parent.mkdir(parents=True, exist_ok=True)
        _remove(paths.candidate)
        run_env = {
            **base_env,
            **provenance_env(project_dir),
            CANDIDATE_ENV: str(paths.candidate),
            "DBT_PROFILES_DIR": base_env.get("DBT_PROFILES_DIR", str(project_dir)),
        }
        command = [*(dbt or dbt_executable()), "build", "--target", PROD_TARGET, *vars_args, *dbt_args]
        out.write(f"Building candidate {paths.candidate} (published: {paths.published})\n")
        out.flush()
        started = time.time()
        returncode, output = run_streaming(command, project_dir, run_env, out)
        if returncode != 0:
            failures = locate_failures(dbt_target_dir(project_dir, run_env), paths.candidate, since=started)
            state = "unchanged" if paths.published.exists() else "not created"
            raise PublishError(
                failure_report(
                    returncode,
                    output,
                    failures,
                    f"Published database {paths.published}: {state}.",
                    str(paths.candidate) if paths.candidate.exists() else None,
                )
            )
        build_id = _checkpoint(paths.candidate)
        publish_candidate(paths)
    out.write(f"Published {paths.published} (build {build_id}); previous version: {paths.previous}\n")
    return build_id
