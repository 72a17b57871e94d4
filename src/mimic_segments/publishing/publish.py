"""Write, audit, publish: build the warehouse into a candidate file, test it there, then switch.

``python -m mimic_segments.publishing.publish build [--release] [-- <extra dbt build args>]`` (what
``make build``, ``make dbt-build`` and ``make release-build`` run):

1. takes the lock ``<db>.lock`` (a second build at the same time is refused, naming the pid
   that holds it; the lock is released by the kernel if a build dies);
2. checks that the data step produced what dbt needs (else names ``make data``);
3. runs ``dbt build`` with ``MIMIC_SEGMENTS_DB`` pointing at the candidate
   ``<db>.candidate/<db name>``: every model and every test runs there, while BI readers keep
   the published ``<db>`` open;
4. only if every node passed: CHECKPOINTs and closes the candidate, keeps the published file as
   ``<db>.previous/<db name>`` (a hard link, so ``<db>`` never disappears), and renames the
   candidate over ``<db>`` in one ``os.replace``. Connected readers keep the version they
   opened; new connections get the new one.

On failure the published file is not touched, the failing nodes are listed with the model or
file, the column, the first offending rows and the audit table holding all of them, and the
candidate is kept for inspection. The candidate and previous files live in directories named
after ``<db>`` and keep its file name (DuckDB names the database catalog after the file's stem;
in the candidate's name quote characters become ``_``, which dbt-duckdb cannot quote).

``python -m mimic_segments.publishing.publish rollback`` swaps the published and the previous version.

``--target postgres`` (before the command) runs build, rollback and status on that dbt profile
target instead: candidate schemas swapped over the published ones in one transaction
(``mimic_segments.publishing.schema_swap``; ``make build-postgres``).

Paths come from the environment (``MIMIC_SEGMENTS_DB``, ``MIMIC_RELEASE_DIR``,
``MIMIC_RELEASE_FORMAT``, ``MIMIC_LAST_DATA_YEAR``), never through a shell, so spaces, quotes
and non-ASCII characters in them are fine. ``DBT_VARS`` (YAML or JSON) adds dbt vars, merged
with those of full-release mode, e.g. ``DBT_VARS='{quarantine_row_defects: true}'``.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, TextIO

import duckdb
import yaml

DEFAULT_DATABASE = "mimic_segments.duckdb"
DEMO_MANIFEST = Path("seeds") / "mimic_demo" / ".manifest.json"
REFERENCE_MANIFEST = Path("seeds") / "reference" / ".manifest.json"
FIRST_ROWS = 5


class PublishError(Exception):
    """A build could not start, failed, or could not be published."""


class BuildLockedError(PublishError):
    """Another build holds the lock."""


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


def check_data_step(project_dir: Path, release: bool) -> None:
    """Fail with the make target to run when the data step has not produced dbt's inputs."""
    needed = [REFERENCE_MANIFEST] if release else [DEMO_MANIFEST, REFERENCE_MANIFEST]
    missing = [str(path) for path in needed if not (project_dir / path).is_file()]
    if missing:
        raise PublishError(
            f"The data step has not run (or was interrupted): missing {', '.join(missing)}. "
            "Run `make data` (or `make build`, which runs it first), then build again."
        )


def explain_dbt_output(output: str) -> list[str]:
    """Turn dbt messages that do not say what to do into ones that do."""
    hints = []
    for node, missing in re.findall(
        r"'([\w.]+)'[^'\n]*?depends on a node named '(\w+)'\s+which was not found", output
    ):
        hints.append(
            f"{node} needs {missing}, which the data step writes into seeds/: run `make data` "
            "(or `make build`), then build again."
        )
    return hints


def git_commit(project_dir: Path, short: bool = False) -> str | None:
    """The checked-out commit (``-dirty`` with uncommitted changes to tracked files), or None."""
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


def _project_version() -> str:
    try:
        return metadata.version("mimic-segments")
    except metadata.PackageNotFoundError:
        return "unknown"


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


def failure_report(
    returncode: int,
    output: str,
    failures: Sequence[FailedNode],
    published_state: str,
    candidate: str | None,
) -> str:
    """What a failed build prints: the dbt exit, hints, each failed node, what was kept."""
    report = [f"\nBuild failed (dbt exited {returncode}); nothing was published."]
    report.extend(explain_dbt_output(output))
    report.extend(node.describe() for node in failures)
    report.append(published_state)
    if candidate:
        report.append(f"Candidate kept for inspection: {candidate}")
    return "\n".join(report)


def dbt_target_dir(project_dir: Path, env: dict[str, str]) -> Path:
    target_dir = Path(env.get("DBT_TARGET_PATH") or project_dir / "target")
    return target_dir if target_dir.is_absolute() else project_dir / target_dir


def _remove(path: Path) -> None:
    for target in (path, wal(path)):
        with contextlib.suppress(FileNotFoundError):
            target.unlink()


def _run_streaming(command: Sequence[str], cwd: Path, env: dict[str, str], out: TextIO) -> tuple[int, str]:
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

    For labels: the report, a dashboard, ``python -m mimic_segments.publishing.publish status``."""
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


@dataclass(frozen=True)
class FailedNode:
    """One node of a failed ``dbt build``, located: what it reads, which column, which rows."""

    unique_id: str
    name: str
    status: str
    message: str
    model: str | None
    column: str | None
    files: tuple[str, ...]
    failures_relation: str | None
    first_rows: tuple[str, ...]

    def describe(self) -> str:
        lines = [f"- {self.unique_id.split('.')[0]} {self.name}: {self.status}"]
        if self.model:
            lines.append(f"    model:  {self.model}")
        if self.files:
            lines.append(f"    file:   {', '.join(self.files)}")
        if self.column:
            lines.append(f"    column: {self.column}")
        if self.message:
            error = [line.strip() for line in self.message.strip().splitlines() if line.strip()]
            lines.append(f"    error:  {error[0][:400]}")
            lines.extend(f"            {line[:400]}" for line in error[1:8])
        if self.first_rows:
            lines.append(f"    first failing rows ({len(self.first_rows)} shown):")
            lines.extend(f"      {row}" for row in self.first_rows)
        if self.failures_relation:
            lines.append(f"    all failing rows: select * from {self.failures_relation}")
        return "\n".join(lines)


def _source_files(manifest: dict[str, Any], node: dict[str, Any]) -> tuple[str, ...]:
    files = []
    for parent in node.get("depends_on", {}).get("nodes", []):
        source = manifest.get("sources", {}).get(parent)
        if source is None:
            continue
        meta = source.get("meta", {})
        extension = ".parquet" if meta.get("release_format") == "parquet" else ".csv.gz"
        if meta.get("release_dir") and meta.get("module"):
            release_dir = str(meta["release_dir"]).replace("''", "'")
            files.append(f"{release_dir}/{meta['module']}/{source['identifier']}{extension}")
    return tuple(files)


def check_relation(relation: str, check_number: int) -> str:
    """Where a contract test's broken declared check keeps its rows: the test's audit relation
    with ``__<check number>`` appended to its name (macros/materializations/test.sql)."""
    suffix = f"__{check_number}"
    return f'{relation[:-1]}{suffix}"' if relation.endswith('"') else relation + suffix


def format_failing_row(columns: Sequence[str], row: Sequence[Any], relation: str) -> str:
    """One stored failing row as ``column=value, ...``. A contract test's row for a declared
    check carries the SQL that selects the check's rows (``failing_rows_sql``): shown instead
    is the table holding those rows."""
    values = dict(zip(columns, row, strict=True))
    shown = [f"{c}={'null' if v is None else v}" for c, v in values.items() if c != "failing_rows_sql"]
    if "failing_rows_sql" in values and values.get("check_number") is not None:
        shown.append(f"rows: select * from {check_relation(relation, int(values['check_number']))}")
    return ", ".join(shown)


def _first_rows(database: Path, relation: str) -> tuple[str, ...]:
    try:
        with duckdb.connect(str(database), read_only=True) as connection:
            cursor = connection.execute(f"select * from {relation} limit {FIRST_ROWS}")
            columns = [d[0] for d in cursor.description or []]
            return tuple(format_failing_row(columns, row, relation) for row in cursor.fetchall())
    except duckdb.Error:
        return ()


def locate_failures(
    target_dir: Path,
    database: Path | None,
    since: float = 0.0,
    first_rows: Callable[[str], tuple[str, ...]] | None = None,
) -> list[FailedNode]:
    """The failed nodes of the dbt invocation that wrote run_results.json, each located; none
    if that file is older than ``since`` (dbt stopped before running anything this time).

    A failing test's first rows come from ``first_rows(relation)`` if given, else from the
    DuckDB file ``database``."""
    if first_rows is None:

        def first_rows(relation: str) -> tuple[str, ...]:
            return _first_rows(database, relation) if database and database.exists() else ()

    try:
        if (target_dir / "run_results.json").stat().st_mtime < since:
            return []
        results = json.loads((target_dir / "run_results.json").read_text(encoding="utf-8"))
        manifest = json.loads((target_dir / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    nodes = manifest.get("nodes", {})
    failed = []
    for result in results.get("results", []):
        if result.get("status") not in ("error", "fail"):
            continue
        node = nodes.get(result["unique_id"], {})
        model = None
        attached = node.get("attached_node")
        if attached:
            model = attached.split(".")[-1]
            files = _source_files(manifest, nodes.get(attached, {}))
        else:
            files = _source_files(manifest, node)
        relation = node.get("relation_name") if node.get("resource_type") == "test" else None
        failed.append(
            FailedNode(
                unique_id=result["unique_id"],
                name=node.get("name") or result["unique_id"].split(".")[-1],
                status=result["status"],
                message=result.get("message") or "",
                model=model,
                column=node.get("column_name"),
                files=files,
                failures_relation=relation,
                first_rows=first_rows(relation) if relation else (),
            )
        )
    return failed


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
        vars_args = dbt_vars_args(base_env, release)
        paths.candidate.parent.mkdir(parents=True, exist_ok=True)
        _remove(paths.candidate)
        run_env = dict(base_env)
        run_env.update(
            MIMIC_SEGMENTS_DB=str(paths.candidate),
            MIMIC_SEGMENTS_GIT_COMMIT=git_commit(project_dir) or "unknown",
            MIMIC_SEGMENTS_VERSION=_project_version(),
            DBT_PROFILES_DIR=base_env.get("DBT_PROFILES_DIR", str(project_dir)),
        )
        command = [*(dbt or [str(Path(sys.executable).with_name("dbt"))]), "build", *vars_args, *dbt_args]
        out.write(f"Building candidate {paths.candidate} (published: {paths.published})\n")
        out.flush()
        started = time.time()
        returncode, output = _run_streaming(command, project_dir, run_env, out)
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--target",
        default=None,
        help="a dbt profile target on a warehouse (postgres): publish by schema swap "
        "(mimic_segments.publishing.schema_swap); default: the DuckDB file",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    build_parser = sub.add_parser("build", help="dbt build into a candidate, test, publish atomically")
    build_parser.add_argument("--release", action="store_true", help="full-release mode (MIMIC_RELEASE_DIR)")
    build_parser.add_argument(
        "dbt_args", nargs=argparse.REMAINDER, help="extra dbt build arguments (after --)"
    )
    sub.add_parser("rollback", help="swap the published database and its previous version")
    sub.add_parser("status", help="the published and previous builds (marts.build_metadata)")
    args = parser.parse_args(argv)
    database = os.environ.get("MIMIC_SEGMENTS_DB") or DEFAULT_DATABASE
    project_dir = Path.cwd()
    if args.target is not None:
        return _main_on_warehouse(args, project_dir)
    try:
        if args.command == "status":
            paths = Paths.for_database(database)
            for label, path in (("published", paths.published), ("previous", paths.previous)):
                try:
                    info = build_of(path)
                except duckdb.Error as error:
                    print(f"{label}: {path}: cannot be read ({error})")
                    continue
                summary = (
                    ", ".join(f"{k}={v}" for k, v in info.items() if k != "result_vars_json")
                    if info
                    else "none"
                )
                print(f"{label}: {path}: {summary}")
            return 0
        if args.command == "rollback":
            paths = Paths.for_database(database)
            rollback(paths)
            print(
                f"Rolled back: {paths.published} is the previous version again ({paths.previous} the other)."
            )
            return 0
        extra = args.dbt_args[1:] if args.dbt_args[:1] == ["--"] else args.dbt_args
        build(project_dir, database, extra, release=args.release)
    except BuildLockedError as error:
        print(error, file=sys.stderr)
        return 3
    except PublishError as error:
        print(error, file=sys.stderr)
        return 1
    return 0


def _main_on_warehouse(args: argparse.Namespace, project_dir: Path) -> int:
    """The same commands on a warehouse target: candidate schemas and a schema swap."""
    # imported here: schema_swap builds on this module's pieces (and, when this module runs as
    # __main__, raises the exceptions of the module it imported, caught here by that name)
    from mimic_segments.publishing import publish
    from mimic_segments.publishing.schema_swap import SchemaSwapPublisher

    publisher = SchemaSwapPublisher(project_dir, args.target)
    try:
        engine = publisher.engine()
        if engine != "postgres":
            raise publish.PublishError(
                f"target {args.target!r} is {engine}: schema swaps are implemented on PostgreSQL; "
                "a DuckDB target publishes its file without --target"
            )
        if args.command == "status":
            publisher.status()
        elif args.command == "rollback":
            publisher.rollback()
        else:
            if args.release:
                raise publish.PublishError("--release reads MIMIC-IV files in place: DuckDB only")
            extra = args.dbt_args[1:] if args.dbt_args[:1] == ["--"] else args.dbt_args
            publisher.build(extra)
    except publish.BuildLockedError as error:
        print(error, file=sys.stderr)
        return 3
    except publish.PublishError as error:
        print(error, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
