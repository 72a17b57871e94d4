"""Benchmark: this project's `dbt build` against pandas and one DuckDB query, from 10,000 patients
to ten times MIMIC-IV.

For each size N (default 10,000, 100,000, 364,627 = MIMIC-IV 3.1, 1,000,000 and 3,646,270):

1. generate a MIMIC-shaped release of N patients (``mimic_segments.synthetic.generator``, seed 42,
   3.1 volumes) under ``data/bench/release-<N>/``, unless it is already there;
2. up to ``--warm-up-max`` patients (default 364,627), run each approach once untimed (warm-up:
   dbt's parse cache, the OS file cache) and check that they agree on every feature of every
   patient and on every cluster id; above it, where one run costs minutes, prime dbt's parse
   cache only and check the agreement on the outputs of the first timed round instead:
   (a) the production build, ``dbt build --selector production`` in full-release mode,
   (a-full) today's full ``dbt build`` (every model, data test, unit test, the diagnostics),
   (b) pandas + scikit-learn (``bench/approaches.py pandas``),
   (c) one DuckDB query + the same K-Means fit (``bench/approaches.py duckdb``);
   and, up to ``--baseline-max`` patients, (ref) the full build of ``--baseline`` (default the
   baseline commit the speed targets were set against), from a copy of that commit (``git archive``)
   under ``data/bench/baseline-<commit>/``: the before of the production build's before/after,
   timed in the same rounds rather than quoted from another day's run;
3. time ``--runs`` interleaved rounds of (a), (a-full), (b), (c), each in its own process under
   the memory cap (``bench/measure.py``): wall, CPU, peak RSS of the process tree and of its
   largest process, DuckDB's spill to disk, and for the dbt builds the per-node timings from
   ``run_results.json``; a run that runs out of memory (or fails) is a result, and that approach
   is not run again at that size;
4. write the medians, ratios, targets, per-node timings, machine and method to ``BENCHMARKS.md``
   (``bench/report.py``), the cost-curve figure to ``bench/cost_curve.png`` and the raw numbers
   to ``data/bench/results.json``.

Usage::

    python bench/run_benchmark.py [--sizes 10000,364627] [--runs 3] [--quick] [--out BENCHMARKS.md]
        [--memory-cap-gb 18] [--duckdb-memory-limit-gb 9] [--baseline 3db7dd0] [--render-only]
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import yaml

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "bench"))

import report  # noqa: E402
from approaches import FEATURE_COLUMNS, MEMORY_LIMIT_ENV, TEMP_DIRECTORY_ENV  # noqa: E402
from launcher import Launcher  # noqa: E402
from measure import (  # noqa: E402
    CAP_MODES,
    GIB,
    MemoryCap,
    Run,
    default_cap_bytes,
    describe_failure,
    machine_memory_bytes,
    resolve_cap,
    run_measured,
)

from mimic_segments.provenance import git_commit  # noqa: E402
from mimic_segments.synthetic import generator  # noqa: E402

PYTHON = Path(sys.executable)
DBT = PYTHON.with_name("dbt")
MIMIC_IV_PATIENTS = 364_627
DEFAULT_SIZES = (10_000, 100_000, MIMIC_IV_PATIENTS, 1_000_000, 10 * MIMIC_IV_PATIENTS)
QUICK_SIZES = (10_000, MIMIC_IV_PATIENTS)
SEED = 42
RELEASE = "3.1"
LAST_DATA_YEAR = generator.RELEASES[RELEASE].last_data_year
PRODUCTION_SELECTOR = "production"
SELECTORS_PATH = REPO_ROOT / "selectors.yml"
# DuckDB's memory_limit for (a) and (c), as a share of the cap: the rest is for what DuckDB does
# not count (the Python models' pandas frames and the fit, dbt itself).
DUCKDB_SHARE_OF_CAP = 0.5
# The estimate of a round's seconds ((a), (a-full), (b), (c)), from the full run of 2026-12-03
# (2 cores): a fixed part (start-up, per-node work) and a part per million patients.
ROUND_FIXED_SECONDS = 80.0
ROUND_SECONDS_PER_MILLION = 245.0
# The baseline commit, whose full build took 16.6 s for 10,000 patients (BENCHMARKS.md of
# 2026-11-26): the baseline its 10,000-patient target halves.
BASELINE_COMMIT = "3db7dd0"
BASELINE_KEY = report.BASELINE_KEY  # the report's tables name it; defined there once


def log(message: str) -> None:
    print(f"[{dt.datetime.now():%H:%M:%S}] {message}", flush=True)


# --------------------------------------------------------------------------------------------
# The approaches
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Approach:
    key: str
    label: str  # how the report names it
    dbt_args: tuple[str, ...] = ()  # a dbt build: its selection arguments
    script: str = ""  # else: the approach of bench/approaches.py
    # the dbt project of another commit (the baseline); None: this checkout
    project_dir: Path | None = None
    # whether its outputs join the agreement check (an older commit's mart may differ in columns)
    compared: bool = True

    @property
    def is_dbt(self) -> bool:
        return not self.script

    @property
    def cwd(self) -> Path:
        return self.project_dir or REPO_ROOT


def has_selector(selectors_yaml: str | None, name: str) -> bool:
    """Whether a selectors.yml text defines the selector ``name`` (``None``: no such file)."""
    if not selectors_yaml:
        return False
    parsed = yaml.safe_load(selectors_yaml) or {}
    return any(s.get("name") == name for s in parsed.get("selectors") or [] if isinstance(s, dict))


def production_approach(selector_defined: bool) -> Approach:
    """(a): ``dbt build --selector production``; without the selector, a labelled stand-in.

    The stand-in leaves out the unit tests only (``--exclude-resource-type unit_test``, what dbt
    recommends for production builds), so that the benchmark runs before the selector exists;
    the report says so wherever it shows (a).
    """
    if selector_defined:
        return Approach("a_production", "(a) production build", ("--selector", PRODUCTION_SELECTOR))
    return Approach(
        "a_production",
        "(a) production build (stand-in)",
        ("--exclude-resource-type", "unit_test"),
    )


def all_approaches(selector_defined: bool) -> list[Approach]:
    return [
        production_approach(selector_defined),
        Approach("a_full", "(a-full) full dbt build"),
        Approach("b_pandas", "(b) pandas + sklearn", script="pandas"),
        Approach("c_duckdb", "(c) one DuckDB query + sklearn", script="duckdb"),
    ]


@dataclass
class Settings:
    cap: MemoryCap
    duckdb_memory_limit: str  # as DuckDB reads it, e.g. "9GiB"
    # what starts a measured run: main() passes launcher.Launcher's, so that no run inherits
    # this process's peak memory as its own (see bench/launcher.py)
    run_measured: Callable[..., Run] = run_measured


@dataclass
class Size:
    patients: int
    release_dir: Path
    work_dir: Path
    rows: dict[str, int]
    generation_seconds: float | None

    def dbt_dir(self, approach: Approach) -> Path:
        """Own database and target per approach: each keeps its parse cache and run results."""
        return self.work_dir / f"dbt-{approach.key}"

    def db_path(self, approach: Approach) -> Path:
        return self.dbt_dir(approach) / "bench.duckdb"

    def spill_dir(self, approach: Approach) -> Path:
        """DuckDB's temp_directory: beside a database file its default, ``<path>.tmp``."""
        if approach.is_dbt:
            return self.dbt_dir(approach) / "bench.duckdb.tmp"
        return self.work_dir / f"{approach.key}.duckdb.tmp"

    def env(self, approach: Approach, settings: Settings) -> dict[str, str]:
        env = dict(os.environ)
        env[MEMORY_LIMIT_ENV] = settings.duckdb_memory_limit
        if approach.is_dbt:
            if approach.project_dir is not None:
                # its Python models import its own package, not this checkout's
                env["PYTHONPATH"] = str(approach.project_dir / "src")
            env.update(
                DBT_PROFILES_DIR=str(approach.cwd),
                # the dev target's file; a baseline checkout from before the dev target reads
                # MIMIC_SEGMENTS_DB instead
                MIMIC_SEGMENTS_DEV_DB=str(self.db_path(approach)),
                MIMIC_SEGMENTS_DB=str(self.db_path(approach)),
                DBT_TARGET_PATH=str(self.dbt_dir(approach) / "target"),
                DBT_LOG_PATH=str(self.dbt_dir(approach) / "logs"),
                DBT_SEND_ANONYMOUS_USAGE_STATS="false",
            )
        else:
            env[TEMP_DIRECTORY_ENV] = str(self.spill_dir(approach))
        return env

    def dbt_vars(self) -> str:
        return json.dumps(
            {
                "mimic_source_mode": "release",
                "mimic_release_dir": str(self.release_dir),
                "mimic_release_format": "csv",
                "mimic_last_data_year": LAST_DATA_YEAR,
            }
        )

    def command(self, approach: Approach, features_out: Path | None = None) -> list[str]:
        if approach.is_dbt:
            return [str(DBT), "build", *approach.dbt_args, "--vars", self.dbt_vars()]
        command = [
            str(PYTHON),
            str(REPO_ROOT / "bench" / "approaches.py"),
            approach.script,
            "--release-dir",
            str(self.release_dir),
            "--last-data-year",
            str(LAST_DATA_YEAR),
        ]
        if features_out is not None:
            command += ["--features-out", str(features_out)]
        return command

    def features_out(self, approach: Approach) -> Path:
        return self.work_dir / f"features-{approach.key}.parquet"


def cpu_busy(interval: float = 1.0) -> float:
    """Share of all cores busy over ``interval`` seconds, from /proc/stat (0 if unavailable).

    Time spent by niced processes counts as free: they run only on what the benchmark, at
    normal priority, leaves idle (the scheduler gives a nice-19 process about 1/70 of a core
    another process wants), so low-priority work may share the machine with a run.
    """
    stat = Path("/proc/stat")
    if not stat.is_file():
        return 0.0

    def sample() -> tuple[int, int]:
        fields = [int(v) for v in stat.read_text().splitlines()[0].split()[1:]]
        idle = fields[1] + fields[3] + fields[4]  # nice + idle + iowait
        return sum(fields), idle

    total0, idle0 = sample()
    time.sleep(interval)
    total1, idle1 = sample()
    return 1.0 - (idle1 - idle0) / max(total1 - total0, 1)


def wait_for_quiet(max_wait: float, threshold: float = 0.25) -> float:
    """Wait (up to ``max_wait`` s) until other processes use under ``threshold`` of the CPU.

    The machine may be shared; timing a run while something else computes measures that
    something else. Returns the busy share seen last, which the report records.
    """
    deadline = time.monotonic() + max_wait
    busy = cpu_busy()
    while busy > threshold and time.monotonic() < deadline:
        time.sleep(2.0)
        busy = cpu_busy()
    return busy


QUIET_WAIT_SECONDS = 120.0


def run_approach(
    size: Size, approach: Approach, settings: Settings, log_name: str, *, outputs: bool, quiet: bool
) -> Run:
    """One run of ``approach`` in a fresh process; a dbt build starts from an empty database."""
    busy = wait_for_quiet(QUIET_WAIT_SECONDS) if quiet else 0.0
    if approach.is_dbt:
        size.dbt_dir(approach).mkdir(parents=True, exist_ok=True)
        size.db_path(approach).unlink(missing_ok=True)
        size.db_path(approach).with_name("bench.duckdb.wal").unlink(missing_ok=True)
    else:
        size.features_out(approach).unlink(missing_ok=True)
    return settings.run_measured(
        size.command(approach, size.features_out(approach) if outputs else None),
        cwd=approach.cwd,
        env=size.env(approach, settings),
        log_path=size.work_dir / f"{log_name}-{approach.key}.log",
        cap=settings.cap,
        spill_dirs=[size.spill_dir(approach)],
        busy_before=busy,
    )


def prime_parse_cache(size: Size, approach: Approach, settings: Settings) -> None:
    """``dbt parse`` with the build's vars: the timed builds then start from a warm parse cache."""
    size.dbt_dir(approach).mkdir(parents=True, exist_ok=True)
    command = [str(DBT), "parse", "--vars", size.dbt_vars()]
    run = settings.run_measured(
        command,
        cwd=approach.cwd,
        env=size.env(approach, settings),
        log_path=size.work_dir / f"parse-{approach.key}.log",
        cap=settings.cap,
    )
    if run.status != "ok":
        raise SystemExit(
            f"dbt parse failed ({run.detail}); log {size.work_dir / f'parse-{approach.key}.log'}"
        )


def prepare(patients: int, data_dir: Path) -> Size:
    release_dir = data_dir / f"release-{patients}"
    marker = release_dir / "generated.json"
    expected = {"patients": patients, "seed": SEED, "release": RELEASE, "volumes": "release"}
    params_mtime = generator.PARAMS_PATH.stat().st_mtime
    if marker.is_file():
        recorded = json.loads(marker.read_text())
        if recorded.get("spec") == expected and recorded.get("params_mtime") == params_mtime:
            log(f"N={patients:,}: using the generated release in {release_dir}")
            return Size(
                patients, release_dir, data_dir / f"work-{patients}", recorded["rows"], recorded["seconds"]
            )
    shutil.rmtree(release_dir, ignore_errors=True)
    log(f"N={patients:,}: generating a MIMIC-shaped release into {release_dir}")
    summary = generator.generate_release(
        release_dir,
        patients,
        SEED,
        release=RELEASE,
        volumes="release",
        progress=lambda line: log(f"  {line}"),
    )
    marker.write_text(
        json.dumps(
            {"spec": expected, "params_mtime": params_mtime, "rows": summary.rows, "seconds": summary.seconds}
        )
    )
    return Size(patients, release_dir, data_dir / f"work-{patients}", summary.rows, summary.seconds)


# --------------------------------------------------------------------------------------------
# Agreement check
# --------------------------------------------------------------------------------------------


def _dbt_features(db_path: Path) -> pd.DataFrame:
    columns = ", ".join(f"f.{c}" for c in FEATURE_COLUMNS)
    with duckdb.connect(str(db_path), read_only=True) as con:
        built = [
            row[0]
            for row in con.execute(
                "select column_name from information_schema.columns where table_schema = 'segmentation'"
                " and table_name = 'patient_features' order by ordinal_position"
            ).fetchall()
        ]
        if tuple(built) != FEATURE_COLUMNS:
            # a feature added to the mart must be added to (b) and (c) too, or they are not
            # computing "the same features" and the comparison would silently skip it
            lacking = [c for c in built if c not in FEATURE_COLUMNS]
            extra = [c for c in FEATURE_COLUMNS if c not in built]
            raise SystemExit(
                f"segmentation.patient_features and bench/approaches.py disagree: the benchmark lacks "
                f"{lacking or 'nothing'} and computes {extra or 'nothing'} more (or the order differs); "
                "add the feature to FEATURE_COLUMNS and to both approaches"
            )
        return con.execute(
            f"select {columns}, c.cluster_id from segmentation.patient_features f "
            "left join segmentation.patient_clusters c using (subject_id) order by f.subject_id"
        ).df()


def _dbt_features_if_built(db_path: Path) -> pd.DataFrame | None:
    """The dbt build's features and clusters, or ``None`` where the build did not make them."""
    if not db_path.is_file():
        return None
    with duckdb.connect(str(db_path), read_only=True) as con:
        (tables,) = con.execute(
            "select count(*) from information_schema.tables where table_schema = 'segmentation' "
            "and table_name in ('patient_features', 'patient_clusters')"
        ).fetchone() or (0,)
    return _dbt_features(db_path) if tables == 2 else None


def _parquet(path: Path) -> pd.DataFrame:
    with duckdb.connect() as con:
        return con.execute(f"select * from read_parquet('{path}') order by subject_id").df()


def compare_features(reference: pd.DataFrame, other: pd.DataFrame, label: str) -> list[str]:
    """Differences between two feature tables, patient by patient; empty if they agree."""
    problems: list[str] = []
    if len(reference) != len(other):
        return [f"{label}: {len(other):,} patients, expected {len(reference):,}"]
    ids = reference["subject_id"].to_numpy()
    if not np.array_equal(ids, other["subject_id"].to_numpy()):
        return [f"{label}: different subject_ids"]
    for column in [*FEATURE_COLUMNS[1:], "cluster_id"]:
        left, right = reference[column], other[column]
        left_na, right_na = left.isna().to_numpy(), right.isna().to_numpy()
        differ = left_na != right_na
        both = ~(left_na | right_na)
        if pd.api.types.is_numeric_dtype(left) and pd.api.types.is_numeric_dtype(right):
            a = left.to_numpy(dtype="float64", na_value=np.nan)[both]
            b = right.to_numpy(dtype="float64", na_value=np.nan)[both]
            differ[both] = ~np.isclose(a, b, rtol=1e-9, atol=1e-9)
        elif pd.api.types.is_datetime64_any_dtype(left) or pd.api.types.is_datetime64_any_dtype(right):
            a = pd.to_datetime(left[both]).dt.date.to_numpy()
            b = pd.to_datetime(right[both]).dt.date.to_numpy()
            differ[both] = a != b
        else:
            differ[both] = left[both].astype(str).to_numpy() != right[both].astype(str).to_numpy()
        if differ.any():
            first = int(np.flatnonzero(differ)[0])
            problems.append(
                f"{label}: {column} differs for {int(differ.sum()):,} patients "
                f"(e.g. subject_id {ids[first]}: {left.iloc[first]!r} vs {right.iloc[first]!r})"
            )
    return problems


def check_agreement(size: Size, approaches: list[Approach], failed: set[str]) -> dict[str, Any]:
    """Compare the outputs of the last run of each approach, patient by patient; stop if any differ.

    The reference is the first approach (in the order given, dbt builds first) that has outputs;
    an approach that failed or made no features is listed as not compared.
    """
    outputs: dict[str, pd.DataFrame] = {}
    for approach in approaches:
        if approach.key in failed or not approach.compared:
            continue
        if approach.is_dbt:
            frame = _dbt_features_if_built(size.db_path(approach))
        else:
            path = size.features_out(approach)
            frame = _parquet(path) if path.is_file() else None
        if frame is not None:
            outputs[approach.key] = frame
    not_compared = [a.key for a in approaches if a.key not in outputs and a.compared]
    if len(outputs) < 2:
        log(f"N={size.patients:,}: fewer than two approaches made features: nothing to compare")
        return {"patients_compared": 0, "compared": list(outputs), "not_compared": not_compared}
    reference_key, *others = outputs
    reference = outputs[reference_key]
    problems = [
        problem
        for key in others
        for problem in compare_features(reference, outputs[key], f"({key} vs {reference_key})")
    ]
    if problems:
        raise SystemExit("the approaches disagree; not timing them:\n  " + "\n  ".join(problems))
    log(
        f"N={size.patients:,}: {', '.join(outputs)} agree on all {len(reference):,} patients, "
        f"features and clusters" + (f" (not compared: {', '.join(not_compared)})" if not_compared else "")
    )
    return {
        "patients_compared": len(reference),
        "columns_compared": [*FEATURE_COLUMNS[1:], "cluster_id"],
        "compared": list(outputs),
        "not_compared": not_compared,
    }


# --------------------------------------------------------------------------------------------
# Timed runs and their summary
# --------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What one approach gave at one size: its timed runs, or the failure that ended them."""

    runs: list[Run] = field(default_factory=list)
    node_seconds: list[dict[str, float]] = field(default_factory=list)
    startup_seconds: list[float] = field(default_factory=list)
    failure: dict[str, Any] | None = None


def _node_timings(target: Path) -> tuple[dict[str, float], float | None]:
    results = json.loads((target / "run_results.json").read_text())
    nodes = {r["unique_id"]: float(r["execution_time"]) for r in results["results"]}
    started = dt.datetime.fromisoformat(results["metadata"]["invocation_started_at"].replace("Z", "+00:00"))
    first = min(
        (
            dt.datetime.fromisoformat(t["started_at"].replace("Z", "+00:00"))
            for r in results["results"]
            for t in r["timing"]
            if t.get("started_at")
        ),
        default=None,
    )
    return nodes, (first - started).total_seconds() if first else None


def _describe(run: Run) -> str:
    return (
        f"{run.seconds:7.2f} s wall, {run.cpu_seconds:7.2f} s CPU, peak {run.peak_tree_rss_mb:6.0f} MB tree "
        f"({run.peak_rss_mb:6.0f} MB largest process), spill {run.peak_spill_mb:5.0f} MB "
        f"(machine {run.busy_before:.0%} busy before)"
    )


def _record_failure(outcome: Outcome, run: Run, phase: str, cap: MemoryCap, label: str) -> None:
    outcome.failure = {"status": run.status, "seconds": run.seconds, "detail": run.detail, "phase": phase}
    log(f"{label}: {describe_failure(run.status, run.seconds, cap.bytes, run.detail)}: {run.detail}")


def bench_size(
    size: Size, approaches: list[Approach], settings: Settings, runs: int, warm_up: bool
) -> tuple[dict[str, Outcome], dict[str, Any]]:
    outcomes = {a.key: Outcome() for a in approaches}
    agreement: dict[str, Any] = {}
    if warm_up:
        for approach in approaches:
            log(f"N={size.patients:,}: warm-up + agreement check: {approach.label}")
            run = run_approach(size, approach, settings, "warm-up", outputs=True, quiet=False)
            if run.status != "ok":
                _record_failure(outcomes[approach.key], run, "warm-up", settings.cap, approach.key)
        agreement = check_agreement(size, approaches, _failed(outcomes))
    else:
        for approach in approaches:
            if approach.is_dbt:
                log(f"N={size.patients:,}: dbt parse for {approach.key} (warm parse cache; no warm-up run)")
                prime_parse_cache(size, approach, settings)
    for round_number in range(1, runs + 1):
        first_outputs = round_number == 1 and not warm_up
        for approach in approaches:
            outcome = outcomes[approach.key]
            if outcome.failure is not None:
                continue
            label = f"N={size.patients:,} run {round_number}/{runs}: {approach.key:<12}"
            run = run_approach(
                size, approach, settings, f"run{round_number}", outputs=first_outputs, quiet=True
            )
            if run.status != "ok":
                _record_failure(outcome, run, f"run {round_number}", settings.cap, label)
                continue
            outcome.runs.append(run)
            if approach.is_dbt:
                nodes, startup = _node_timings(size.dbt_dir(approach) / "target")
                outcome.node_seconds.append(nodes)
                outcome.startup_seconds.append(startup or 0.0)
            log(f"{label} {_describe(run)}")
        if first_outputs:
            agreement = check_agreement(size, approaches, _failed(outcomes))
    return outcomes, agreement


def _failed(outcomes: dict[str, Outcome]) -> set[str]:
    return {key for key, outcome in outcomes.items() if outcome.failure is not None}


def summarise_runs(runs: list[Run], failure: dict[str, Any] | None) -> dict[str, Any]:
    """Medians (wall, CPU) and maxima (memory, spill) over the completed runs, and the failure."""
    summary: dict[str, Any] = {"runs": [r.as_dict() for r in runs], "failure": failure}
    if not runs:
        return summary | dict.fromkeys(
            (
                "median_seconds",
                "min_seconds",
                "max_seconds",
                "median_cpu_seconds",
                "peak_rss_mb",
                "peak_tree_rss_mb",
                "peak_spill_mb",
            )
        )
    return summary | {
        "median_seconds": statistics.median(r.seconds for r in runs),
        "min_seconds": min(r.seconds for r in runs),
        "max_seconds": max(r.seconds for r in runs),
        "median_cpu_seconds": statistics.median(r.cpu_seconds for r in runs),
        "peak_rss_mb": max(r.peak_rss_mb for r in runs),
        "peak_tree_rss_mb": max(r.peak_tree_rss_mb for r in runs),
        "peak_spill_mb": max(r.peak_spill_mb for r in runs),
    }


def node_medians(per_run: list[dict[str, float]]) -> dict[str, float]:
    node_ids = sorted({node for nodes in per_run for node in nodes})
    return {node: statistics.median(nodes.get(node, 0.0) for nodes in per_run) for node in node_ids}


RATIOS = (
    ("a_production", "b_pandas"),
    ("a_production", "c_duckdb"),
    ("a_full", "b_pandas"),
    ("a_full", "c_duckdb"),
    ("a_production", "a_full"),
    ("a_production", BASELINE_KEY),
    ("a_full", BASELINE_KEY),
)


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """``numerator / denominator``, or ``None`` where either did not complete."""
    if numerator is None or denominator is None or denominator <= 0:
        return None
    return numerator / denominator


def summarise(
    size: Size, outcomes: dict[str, Outcome], agreement: dict[str, Any], warm_up: bool
) -> dict[str, Any]:
    approaches = {key: summarise_runs(o.runs, o.failure) for key, o in outcomes.items()}
    return {
        "patients": size.patients,
        "rows": size.rows,
        "generation_seconds": size.generation_seconds,
        "warm_up": warm_up,
        "agreement": agreement,
        "approaches": approaches,
        "ratios": {
            f"{a}/{b}": ratio(approaches[a]["median_seconds"], approaches[b]["median_seconds"])
            for a, b in RATIOS
            if a in approaches and b in approaches
        },
        "dbt": {
            key: {
                "node_median_seconds": node_medians(o.node_seconds),
                "startup_seconds": statistics.median(o.startup_seconds) if o.startup_seconds else None,
            }
            for key, o in outcomes.items()
            if key.startswith("a_")
        },
    }


# --------------------------------------------------------------------------------------------
# Machine, commit, generator
# --------------------------------------------------------------------------------------------


def machine() -> dict[str, str]:
    cpu = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = "unknown"
    meminfo = Path("/proc/meminfo")
    if meminfo.is_file():
        kib = int(meminfo.read_text().split()[1])
        memory = f"{kib / 1024 / 1024:.1f} GiB"
    import dbt.version
    import sklearn

    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "memory": memory,
        "os": platform.platform(),
        "python": platform.python_version(),
        "dbt-core": dbt.version.__version__,
        "duckdb": duckdb.__version__,
        "pandas": pd.__version__,
        "numpy": np.__version__,
        "scikit-learn": sklearn.__version__,
    }


def source_commit() -> str:
    """The checked-out commit the timings belong to (``-dirty`` with uncommitted changes)."""
    return git_commit(REPO_ROOT, short=True) or "unknown (not a git checkout)"


def generator_throughput(patients: int, data_dir: Path, settings: Settings) -> dict[str, Any]:
    out = data_dir / "generator-throughput"
    shutil.rmtree(out, ignore_errors=True)
    log(f"generator throughput: {patients:,} patients")
    log_path = data_dir / "generator-throughput.log"
    command = [str(PYTHON), "-m", "mimic_segments.synthetic.generator", "--patients", str(patients)]
    command += ["--seed", str(SEED), "--out", str(out)]
    run = settings.run_measured(
        command,
        cwd=REPO_ROOT,
        env=dict(os.environ),
        log_path=log_path,
        cap=settings.cap,
        busy_before=wait_for_quiet(QUIET_WAIT_SECONDS),
    )
    if run.status != "ok":
        raise SystemExit(f"the generator failed ({run.detail}); log {log_path}")
    rows = {}
    for line in log_path.read_text().splitlines():
        if line.startswith("wrote "):
            for part in line.split(": ", 1)[1].split(", "):
                name, count = part.rsplit(" ", 1)
                rows[name] = int(count.replace(",", ""))
    shutil.rmtree(out, ignore_errors=True)
    log(f"generator throughput: {run.seconds:.1f} s, peak {run.peak_rss_mb:.0f} MB")
    return {"patients": patients, "seconds": run.seconds, "peak_rss_mb": run.peak_rss_mb, "rows": rows}


def estimate_seconds(sizes: list[int], runs: int, warm_up_max: int, baseline_max: int = 0) -> float:
    """A rough duration of the whole benchmark on 2 cores (releases already generated).

    A round is (a), (a-full), (b) and (c); where the baseline runs too, it adds about a third.
    """
    total = 0.0
    for patients in sizes:
        rounds = runs + (1 if patients <= warm_up_max else 0)
        round_seconds = ROUND_FIXED_SECONDS + ROUND_SECONDS_PER_MILLION * patients / 1e6
        total += rounds * round_seconds * (4 / 3 if patients <= baseline_max else 1)
    return total


def baseline_commit(approach: Approach) -> str:
    """The commit (short hash) a baseline approach was copied from."""
    assert approach.project_dir is not None
    return approach.project_dir.name.removeprefix("baseline-")


def prepare_baseline(commit: str, data_dir: Path) -> Approach | None:
    """(ref): the full build of the project at ``commit``, or ``None`` if this clone lacks it.

    The project is copied out of git (``git archive``, no worktree to clean up) into
    ``data/bench/baseline-<commit>/``, and its reference seed is written as that commit's data
    step wrote it (``python -m mimic_segments.reference_data``); the demo seeds are not needed,
    as every benchmark build reads a generated release. It runs on this checkout's environment
    (same dbt, DuckDB, pandas, scikit-learn), so only the project differs.
    """
    resolved = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "rev-parse", "--short", f"{commit}^{{commit}}"],
        capture_output=True,
        text=True,
    )
    if resolved.returncode != 0:
        log(f"baseline {commit}: not in this clone's history (a shallow clone?); not timed")
        return None
    short = resolved.stdout.strip()
    project = (data_dir / f"baseline-{short}").resolve()
    marker = project / ".prepared"
    if not marker.is_file():
        log(f"baseline {short}: copying the project out of git into {project}")
        shutil.rmtree(project, ignore_errors=True)
        project.mkdir(parents=True)
        archive = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "archive", "--format=tar", short], capture_output=True, check=True
        )
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            tar.extractall(project, filter="data")
        seeded = subprocess.run(
            [str(PYTHON), "-m", "mimic_segments.reference_data"],
            cwd=project,
            env={**os.environ, "PYTHONPATH": str(project / "src")},
            capture_output=True,
            text=True,
        )
        if seeded.returncode != 0:
            raise SystemExit(
                f"baseline {short}: its reference data step failed:\n{seeded.stdout}{seeded.stderr}"
            )
        marker.write_text(short + "\n")
    return Approach(BASELINE_KEY, f"(ref) full build at {short}", project_dir=project, compared=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=",".join(str(n) for n in DEFAULT_SIZES), help="comma-separated N")
    parser.add_argument("--runs", type=int, default=3, help="timed rounds per size (default 3)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"the sizes the first two targets need ({', '.join(f'{n:,}' for n in QUICK_SIZES)}), "
        "no generator run: about 20 minutes",
    )
    parser.add_argument(
        "--warm-up-max",
        type=int,
        default=MIMIC_IV_PATIENTS,
        help="largest N with an untimed warm-up round; above it the first timed round's outputs are "
        "compared (default 364627)",
    )
    parser.add_argument(
        "--memory-cap-gb",
        type=float,
        help="memory cap per approach, GiB (default: three quarters of the machine's memory)",
    )
    parser.add_argument("--memory-cap-mode", choices=CAP_MODES, default="auto")
    parser.add_argument(
        "--duckdb-memory-limit-gb",
        type=float,
        # argparse %-formats help strings: the percent sign is doubled
        help=f"DuckDB's memory_limit for (a) and (c), GiB (default: {DUCKDB_SHARE_OF_CAP:.0%}% of the cap)",
    )
    parser.add_argument(
        "--baseline",
        default=BASELINE_COMMIT,
        help=f"commit whose full build is timed beside (a) as (ref) (default {BASELINE_COMMIT}, the one "
        "of the speed targets; '' for none)",
    )
    parser.add_argument(
        "--baseline-max",
        type=int,
        default=MIMIC_IV_PATIENTS,
        help="largest N the baseline runs at (default 364627)",
    )
    parser.add_argument("--data-dir", type=Path, default=REPO_ROOT / "data" / "bench")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "BENCHMARKS.md")
    parser.add_argument("--figure", type=Path, default=REPO_ROOT / "bench" / "cost_curve.png")
    parser.add_argument(
        "--generator-patients", type=int, default=1_000_000, help="generator throughput run (0 to skip)"
    )
    parser.add_argument(
        "--render-only", action="store_true", help="rewrite --out from data/bench/results.json, run nothing"
    )
    args = parser.parse_args(argv)
    if args.render_only:
        report.write(json.loads((args.data_dir / "results.json").read_text()), args.out, args.figure)
        log(f"wrote {args.out} and {args.figure}")
        return 0
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    # before any frame is loaded: the measured runs are started by this small helper
    with Launcher() as launcher:
        return benchmark(args, launcher)


def benchmark(args: argparse.Namespace, launcher: Launcher) -> int:
    """The benchmark of ``args``, each measured run started by ``launcher``."""
    sizes = (
        list(QUICK_SIZES)
        if args.quick
        else [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    )
    if args.quick:
        args.generator_patients = 0
    total_memory = machine_memory_bytes() or 8 * GIB
    cap_bytes = int(args.memory_cap_gb * GIB) if args.memory_cap_gb else default_cap_bytes(total_memory)
    duckdb_bytes = (
        int(args.duckdb_memory_limit_gb * GIB)
        if args.duckdb_memory_limit_gb
        else int(cap_bytes * DUCKDB_SHARE_OF_CAP)
    )
    settings = Settings(
        resolve_cap(cap_bytes, args.memory_cap_mode), f"{duckdb_bytes // 2**20}MiB", launcher.run_measured
    )
    selector_defined = has_selector(
        SELECTORS_PATH.read_text() if SELECTORS_PATH.is_file() else None, PRODUCTION_SELECTOR
    )
    approaches = all_approaches(selector_defined)
    args.data_dir.mkdir(parents=True, exist_ok=True)
    baseline = prepare_baseline(args.baseline, args.data_dir) if args.baseline else None
    baseline_max = args.baseline_max if baseline else 0
    if not selector_defined:
        log(
            f"selectors.yml defines no `{PRODUCTION_SELECTOR}` selector at this commit: (a) is a stand-in, "
            f"`dbt build {' '.join(approaches[0].dbt_args)}`, and the report labels it so"
        )
    log(
        f"sizes {', '.join(f'{n:,}' for n in sizes)}, {args.runs} runs; "
        f"memory cap {settings.cap.describe()}; "
        f"DuckDB memory_limit {settings.duckdb_memory_limit}; estimated "
        f"{estimate_seconds(sizes, args.runs, args.warm_up_max, baseline_max) / 60:.0f} min on 2 cores "
        "(+ generation)"
    )

    results: dict[str, Any] = {
        "date": dt.date.today().isoformat(),
        "commit": source_commit(),
        "runs": args.runs,
        "machine": machine(),
        "memory": {
            "cap_bytes": settings.cap.bytes,
            "cap_mode": settings.cap.mode,
            "cap_description": settings.cap.describe(),
            "duckdb_memory_limit": settings.duckdb_memory_limit,
            "duckdb_memory_limit_bytes": duckdb_bytes,
        },
        "production": {
            "selector_defined": selector_defined,
            "label": approaches[0].label,
            "dbt_args": list(approaches[0].dbt_args),
        },
        "warm_up_max": args.warm_up_max,
        "launcher": True,  # runs started by bench/launcher.py (report.launcher_note)
        "baseline": {"commit": baseline_commit(baseline), "max_patients": baseline_max} if baseline else None,
        "labels": {a.key: a.label for a in [*approaches, *([baseline] if baseline else [])]},
        "sizes": [],
    }
    for patients in sizes:
        size = prepare(patients, args.data_dir)
        size.work_dir.mkdir(parents=True, exist_ok=True)
        warm_up = patients <= args.warm_up_max
        at_size = [*approaches, *([baseline] if baseline and patients <= baseline_max else [])]
        outcomes, agreement = bench_size(size, at_size, settings, args.runs, warm_up)
        summary = summarise(size, outcomes, agreement, warm_up)
        for approach in at_size:  # the builds' databases take gigabytes at the largest sizes
            if approach.is_dbt:
                size.db_path(approach).unlink(missing_ok=True)
        results["sizes"].append(summary)
        log(
            f"N={patients:,}: "
            + "; ".join(report.median_text(summary, a.key, settings.cap.bytes) for a in at_size)
        )
        # after every size: a long run that stops later still leaves what it measured
        (args.data_dir / "results.json").write_text(json.dumps(results, indent=1, default=str))
    if args.generator_patients > 0:
        results["generator_throughput"] = generator_throughput(
            args.generator_patients, args.data_dir, settings
        )
    (args.data_dir / "results.json").write_text(json.dumps(results, indent=1, default=str))
    report.write(results, args.out, args.figure)
    log(f"wrote {args.out} and {args.figure}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
