"""Before and after: the production build of several commits, interleaved, on one release.

Each commit is copied out of git (``git archive``, as ``run_benchmark.py`` does for its
baseline), its reference data step is run, and then ``dbt build --selector production`` of every
copy runs in turn, round after round, into an empty DuckDB file, on this checkout's dbt, DuckDB
and Python packages: only the project differs. Wall time and CPU time (user + system of dbt and
its children, from ``wait4``) are reported as medians with ranges, each commit's ratio to the
first, and the dbt nodes whose median time changed most, so that a cost is attributed to models
and tests rather than guessed.

    python bench/before_after.py --release-dir data/bench/release-364627 \
        --commits bcdfe07,HEAD --runs 5 > data/bench/before_after.md

``HEAD`` may be replaced by ``WORKTREE`` to time the uncommitted checkout itself.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
PYTHON = Path(sys.executable)
DBT = PYTHON.with_name("dbt")
WORKTREE = "WORKTREE"


@dataclass
class Timings:
    label: str
    project: Path
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    nodes: list[dict[str, float]] = field(default_factory=list)

    def median_nodes(self) -> dict[str, float]:
        ids = {node for run in self.nodes for node in run}
        return {node: statistics.median(run.get(node, 0.0) for run in self.nodes) for node in ids}


def copy_commit(commit: str, work_dir: Path) -> tuple[str, Path]:
    """The project at ``commit`` (short hash, directory), with its reference data written."""
    if commit == WORKTREE:
        return WORKTREE, REPO_ROOT
    short = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "rev-parse", "--short", f"{commit}^{{commit}}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    project = work_dir / f"project-{short}"
    if not (project / ".prepared").is_file():
        shutil.rmtree(project, ignore_errors=True)
        project.mkdir(parents=True)
        archive = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "archive", "--format=tar", short], capture_output=True, check=True
        )
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            tar.extractall(project, filter="data")
        for module in ("mimic_segments.sources.reference", "mimic_segments.reference_data"):
            step = subprocess.run(
                [str(PYTHON), "-m", module],
                cwd=project,
                env={**os.environ, "PYTHONPATH": str(project / "src")},
                capture_output=True,
                text=True,
            )
            if step.returncode == 0:
                break
        else:
            raise SystemExit(f"{short}: its reference data step failed:\n{step.stderr}")
        catalogue = subprocess.run(
            [str(PYTHON), "-m", "mimic_segments.catalogue.features"],
            cwd=project,
            env={**os.environ, "PYTHONPATH": str(project / "src")},
            capture_output=True,
            text=True,
        )
        if catalogue.returncode != 0 and "No module named" not in catalogue.stderr:
            raise SystemExit(f"{short}: its feature catalogue step failed:\n{catalogue.stderr}")
        (project / ".prepared").write_text(short + "\n")
    return short, project


def build(timings: Timings, release_dir: Path, work_dir: Path, last_data_year: int) -> None:
    """One production build of ``timings.project`` into an empty database, timed."""
    db = work_dir / f"{timings.label}.duckdb"
    for stale in (db, Path(f"{db}.wal")):
        stale.unlink(missing_ok=True)
    target = work_dir / f"target-{timings.label}"
    env = {
        **os.environ,
        "DBT_PROFILES_DIR": str(timings.project),
        "MIMIC_SEGMENTS_DEV_DB": str(db),
        "MIMIC_SEGMENTS_DB": str(db),
        "DBT_TARGET_PATH": str(target),
        "DBT_LOG_PATH": str(work_dir / f"logs-{timings.label}"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    if timings.project != REPO_ROOT:
        env["PYTHONPATH"] = str(timings.project / "src")
    dbt_vars = json.dumps(
        {
            "mimic_source_mode": "release",
            "mimic_release_dir": str(release_dir),
            "mimic_release_format": "csv",
            "mimic_last_data_year": last_data_year,
        }
    )
    started = time.perf_counter()
    process = subprocess.Popen(
        [str(DBT), "build", "--selector", "production", "--vars", dbt_vars],
        cwd=timings.project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    output = process.stdout.read() if process.stdout else b""
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{timings.label}: the build failed:\n{output.decode()[-4000:]}")
    timings.wall.append(wall)
    timings.cpu.append(usage.ru_utime + usage.ru_stime)
    results = json.loads((target / "run_results.json").read_text())
    timings.nodes.append({r["unique_id"]: float(r["execution_time"]) for r in results["results"]})
    db.unlink(missing_ok=True)


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.1f} s [{min(values):.1f}-{max(values):.1f}]"


def report(all_timings: list[Timings], release_dir: Path, top: int) -> str:
    first = all_timings[0]
    lines = [
        f"Production builds (`dbt build --selector production`) on `{release_dir.name}`, "
        f"{len(first.wall)} interleaved rounds, median [min-max]:",
        "",
        "| commit | dbt nodes | wall | CPU | wall / first | CPU / first |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for timings in all_timings:
        lines.append(
            f"| {timings.label} | {len(timings.nodes[0])} | {spread(timings.wall)} | {spread(timings.cpu)} "
            f"| {statistics.median(timings.wall) / statistics.median(first.wall):.3f} "
            f"| {statistics.median(timings.cpu) / statistics.median(first.cpu):.3f} |"
        )
    before, after = first.median_nodes(), all_timings[-1].median_nodes()
    changes = sorted(
        ((after.get(n, 0.0) - before.get(n, 0.0), n) for n in set(before) | set(after)), reverse=True
    )
    lines += [
        "",
        f"Largest node-time changes, {first.label} -> {all_timings[-1].label} (median seconds; "
        "nodes run two at a time, so these sum to more than the wall time):",
        "",
        "| node | before | after | change |",
        "| --- | ---: | ---: | ---: |",
    ]
    for change, node in changes[:top]:
        was, now = before.get(node, 0.0), after.get(node, 0.0)
        lines.append(f"| `{node}` | {was:.2f} | {now:.2f} | {change:+.2f} |")
    added = [n for n in after if n not in before]
    lines += [
        "",
        f"Nodes only after: {len(added)}, {sum(after[n] for n in added):.1f} s of node time; "
        f"node time in all: {sum(before.values()):.1f} s before, {sum(after.values()):.1f} s after.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--release-dir", type=Path, required=True)
    parser.add_argument("--commits", required=True, help=f"comma-separated; {WORKTREE} = this checkout")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--last-data-year", type=int, default=2022)
    parser.add_argument("--work-dir", type=Path, default=REPO_ROOT / "data" / "bench" / "before_after")
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args(argv)
    args.work_dir.mkdir(parents=True, exist_ok=True)
    all_timings = [Timings(*copy_commit(c.strip(), args.work_dir)) for c in args.commits.split(",")]
    for timings in all_timings:  # warm-up: parse caches, the OS file cache
        build(timings, args.release_dir.resolve(), args.work_dir, args.last_data_year)
        timings.wall.clear()
        timings.cpu.clear()
        timings.nodes.clear()
    for round_number in range(args.runs):
        for timings in all_timings:
            build(timings, args.release_dir.resolve(), args.work_dir, args.last_data_year)
            print(f"round {round_number + 1}: {timings.label} {timings.wall[-1]:.1f} s", file=sys.stderr)
    sys.stdout.write(report(all_timings, args.release_dir, args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
