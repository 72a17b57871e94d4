"""Benchmark: this project's `dbt build` against pandas and one DuckDB query, at MIMIC-IV scale.

For each size N (default 10,000, 100,000 and 364,627 patients, MIMIC-IV 3.1's count):

1. generate a MIMIC-shaped release of N patients (``mimic_segments.synthetic.generator``, seed 42,
   3.1 volumes) under ``data/bench/release-<N>/``, unless it is already there;
2. run each approach once untimed (warm-up: dbt's parse cache, the OS file cache) and check
   that they agree on every feature of every patient and on every cluster id:
   (a) ``dbt build`` in full-release mode (every model, data test, unit test, the Python model),
   (b) pandas + scikit-learn (``bench/approaches.py pandas``),
   (c) one DuckDB query + the same K-Means fit (``bench/approaches.py duckdb``);
3. time ``--runs`` rounds of (a), (b), (c), each in its own process: wall time and the
   process's peak resident memory (``wait4`` rusage), and for (a) dbt's per-node timings from
   ``run_results.json``;
4. write the medians, ratios, per-model timings, machine and method to ``BENCHMARKS.md`` and
   the raw numbers to ``data/bench/results.json``.

Usage::

    python bench/run_benchmark.py [--sizes 10000,100000,364627] [--runs 3] [--out BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "bench"))

from approaches import FEATURE_COLUMNS  # noqa: E402

from mimic_segments.publishing.publish import git_commit  # noqa: E402
from mimic_segments.synthetic import generator  # noqa: E402

PYTHON = Path(sys.executable)
DBT = PYTHON.with_name("dbt")
DEFAULT_SIZES = (10_000, 100_000, 364_627)
SEED = 42
RELEASE = "3.1"
LAST_DATA_YEAR = generator.RELEASES[RELEASE].last_data_year
TARGETS = {"dbt_seconds": 45.0, "dbt_peak_gb": 3.0, "a_over_c": 2.5}


def log(message: str) -> None:
    print(f"[{dt.datetime.now():%H:%M:%S}] {message}", flush=True)


# --------------------------------------------------------------------------------------------
# Running one measured process
# --------------------------------------------------------------------------------------------


@dataclass
class Measurement:
    approach: str
    seconds: float
    peak_rss_mb: float
    cpu_seconds: float
    busy_before: float
    node_seconds: dict[str, float] = field(default_factory=dict)
    startup_seconds: float | None = None


@dataclass(frozen=True)
class Run:
    seconds: float  # wall
    peak_rss_mb: float  # the process's peak resident set (wait4 rusage)
    cpu_seconds: float  # user + system time of the process
    busy_before: float  # share of the machine's CPU busy just before the run (other load)


def cpu_busy(interval: float = 1.0) -> float:
    """Share of all cores busy over ``interval`` seconds, from /proc/stat (0 if unavailable)."""
    stat = Path("/proc/stat")
    if not stat.is_file():
        return 0.0

    def sample() -> tuple[int, int]:
        fields = [int(v) for v in stat.read_text().splitlines()[0].split()[1:]]
        idle = fields[3] + fields[4]  # idle + iowait
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


def measure(command: list[str], env: dict[str, str], log_path: Path, quiet: bool = False) -> Run:
    """Run ``command`` (after waiting for a quiet machine if ``quiet``) and measure it."""
    busy = wait_for_quiet(QUIET_WAIT_SECONDS) if quiet else 0.0
    with log_path.open("w") as output:
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        tail = log_path.read_text()[-4000:]
        raise RuntimeError(f"{' '.join(command)} failed ({process.returncode}); log {log_path}:\n{tail}")
    # ru_maxrss is in KiB on Linux
    return Run(seconds, usage.ru_maxrss / 1024.0, usage.ru_utime + usage.ru_stime, busy)


@dataclass
class Size:
    patients: int
    release_dir: Path
    work_dir: Path
    rows: dict[str, int]
    generation_seconds: float | None
    parquet_seconds: float | None = None

    def dbt_dir(self, release_format: str) -> Path:
        """Own database and target per format: switching vars would void dbt's parse cache."""
        return self.work_dir / f"dbt-{release_format}"

    def db_path(self, release_format: str) -> Path:
        return self.dbt_dir(release_format) / "bench.duckdb"

    def dbt_env(self, release_format: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            DBT_PROFILES_DIR=str(REPO_ROOT),
            MIMIC_SEGMENTS_DB=str(self.db_path(release_format)),
            DBT_TARGET_PATH=str(self.dbt_dir(release_format) / "target"),
            DBT_LOG_PATH=str(self.dbt_dir(release_format) / "logs"),
            DBT_SEND_ANONYMOUS_USAGE_STATS="false",
        )
        return env

    def dbt_command(self, release_format: str) -> list[str]:
        variables = json.dumps(
            {
                "mimic_source_mode": "release",
                "mimic_release_dir": str(self.release_dir),
                "mimic_release_format": release_format,
                "mimic_last_data_year": LAST_DATA_YEAR,
            }
        )
        return [str(DBT), "build", "--vars", variables]

    def approach_command(self, approach: str, features_out: Path | None = None) -> list[str]:
        command = [
            str(PYTHON),
            str(REPO_ROOT / "bench" / "approaches.py"),
            approach,
            "--release-dir",
            str(self.release_dir),
            "--last-data-year",
            str(LAST_DATA_YEAR),
        ]
        if features_out is not None:
            command += ["--features-out", str(features_out)]
        return command


def convert_to_parquet(size: Size) -> None:
    """The one-time conversion (a') builds from; timed once, reported apart from the builds."""
    marker = size.release_dir / "parquet.json"
    if marker.is_file():
        size.parquet_seconds = json.loads(marker.read_text())["seconds"]
        return
    log(f"N={size.patients:,}: one-time conversion of the release to Parquet copies")
    seconds = measure(
        [str(PYTHON), "-m", "mimic_segments.sources.release_parquet", "--release-dir", str(size.release_dir)],
        dict(os.environ),
        size.work_dir / "parquet-conversion.log",
        quiet=True,
    ).seconds
    marker.write_text(json.dumps({"seconds": seconds}))
    size.parquet_seconds = seconds


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
                "select column_name from information_schema.columns where table_schema = 'marts'"
                " and table_name = 'patient_features' order by ordinal_position"
            ).fetchall()
        ]
        if tuple(built) != FEATURE_COLUMNS:
            # a feature added to the mart must be added to (b) and (c) too, or they are not
            # computing "the same features" and the comparison would silently skip it
            lacking = [c for c in built if c not in FEATURE_COLUMNS]
            extra = [c for c in FEATURE_COLUMNS if c not in built]
            raise SystemExit(
                f"marts.patient_features and bench/approaches.py disagree: the benchmark lacks "
                f"{lacking or 'nothing'} and computes {extra or 'nothing'} more (or the order differs); "
                "add the feature to FEATURE_COLUMNS and to both approaches"
            )
        return con.execute(
            f"select {columns}, c.cluster_id from marts.patient_features f "
            "left join marts.patient_clusters c using (subject_id) order by f.subject_id"
        ).df()


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


def verify(size: Size) -> dict[str, Any]:
    """Untimed warm-up of (a), (b), (c) that also proves they compute the same thing."""
    log(f"N={size.patients:,}: warm-up + agreement check: (a) dbt build")
    for release_format in ("csv", "parquet"):
        size.dbt_dir(release_format).mkdir(parents=True, exist_ok=True)
        size.db_path(release_format).unlink(missing_ok=True)
        measure(
            size.dbt_command(release_format),
            size.dbt_env(release_format),
            size.work_dir / f"verify-dbt-{release_format}.log",
        )
    reference = _dbt_features(size.db_path("csv"))
    problems = compare_features(
        reference, _dbt_features(size.db_path("parquet")), "(dbt on Parquet vs dbt on CSV)"
    )
    for approach in ("pandas", "duckdb"):
        log(
            f"N={size.patients:,}: warm-up + agreement check: "
            f"({'b' if approach == 'pandas' else 'c'}) {approach}"
        )
        out = size.work_dir / f"verify-{approach}.parquet"
        measure(
            size.approach_command(approach, out), dict(os.environ), size.work_dir / f"verify-{approach}.log"
        )
        problems += compare_features(reference, _parquet(out), f"({approach} vs dbt)")
    if problems:
        raise SystemExit("the approaches disagree; not timing them:\n  " + "\n  ".join(problems))
    log(
        f"N={size.patients:,}: (a), (b) and (c) agree on all {len(reference):,} patients, "
        "features and clusters"
    )
    return {"patients_compared": len(reference), "columns_compared": [*FEATURE_COLUMNS[1:], "cluster_id"]}


# --------------------------------------------------------------------------------------------
# Timed runs
# --------------------------------------------------------------------------------------------


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


def timed_round(size: Size, round_number: int, runs: int) -> list[Measurement]:
    out: list[Measurement] = []
    label = f"N={size.patients:,} run {round_number}/{runs}"
    for key, release_format in (("a_dbt", "csv"), ("a_dbt_parquet", "parquet")):
        size.db_path(release_format).unlink(missing_ok=True)  # every build starts from an empty database
        run = measure(
            size.dbt_command(release_format),
            size.dbt_env(release_format),
            size.work_dir / f"run{round_number}-dbt-{release_format}.log",
            quiet=True,
        )
        nodes, startup = _node_timings(size.dbt_dir(release_format) / "target")
        out.append(
            Measurement(key, run.seconds, run.peak_rss_mb, run.cpu_seconds, run.busy_before, nodes, startup)
        )
        log(
            f"{label}: {'(a) ' if release_format == 'csv' else '(a2)'} dbt build, "
            f"{release_format:<7} {_describe(run)}"
        )
    for key, approach in (("b_pandas", "pandas"), ("c_duckdb", "duckdb")):
        run = measure(
            size.approach_command(approach),
            dict(os.environ),
            size.work_dir / f"run{round_number}-{approach}.log",
            quiet=True,
        )
        out.append(Measurement(key, run.seconds, run.peak_rss_mb, run.cpu_seconds, run.busy_before))
        log(f"{label}: ({key[0]})  {approach:<19} {_describe(run)}")
    return out


def _describe(run: Run) -> str:
    return (
        f"{run.seconds:6.2f} s wall, {run.cpu_seconds:6.2f} s CPU, peak {run.peak_rss_mb:5.0f} MB "
        f"(machine {run.busy_before:.0%} busy before)"
    )


def summarise(size: Size, measurements: list[Measurement], agreement: dict[str, Any]) -> dict[str, Any]:
    by_approach: dict[str, list[Measurement]] = {}
    for m in measurements:
        by_approach.setdefault(m.approach, []).append(m)
    approaches = {
        name: {
            "median_seconds": statistics.median(m.seconds for m in ms),
            "min_seconds": min(m.seconds for m in ms),
            "max_seconds": max(m.seconds for m in ms),
            "peak_rss_mb": max(m.peak_rss_mb for m in ms),
            "median_cpu_seconds": statistics.median(m.cpu_seconds for m in ms),
            "runs": [m.seconds for m in ms],
            "busy_before": [m.busy_before for m in ms],
        }
        for name, ms in by_approach.items()
    }

    def node_medians(runs: list[Measurement]) -> dict[str, float]:
        node_ids = sorted({node for m in runs for node in m.node_seconds})
        return {node: statistics.median(m.node_seconds.get(node, 0.0) for m in runs) for node in node_ids}

    a = approaches["a_dbt"]["median_seconds"]
    a_parquet = approaches["a_dbt_parquet"]["median_seconds"]
    b = approaches["b_pandas"]["median_seconds"]
    c = approaches["c_duckdb"]["median_seconds"]
    return {
        "patients": size.patients,
        "rows": size.rows,
        "generation_seconds": size.generation_seconds,
        "parquet_conversion_seconds": size.parquet_seconds,
        "agreement": agreement,
        "approaches": approaches,
        "a_over_b": a / b,
        "a_over_c": a / c,
        "a_parquet_over_b": a_parquet / b,
        "a_parquet_over_c": a_parquet / c,
        "dbt_startup_seconds": statistics.median(m.startup_seconds or 0.0 for m in by_approach["a_dbt"]),
        "dbt_parquet_startup_seconds": statistics.median(
            m.startup_seconds or 0.0 for m in by_approach["a_dbt_parquet"]
        ),
        "dbt_node_median_seconds": node_medians(by_approach["a_dbt"]),
        "dbt_parquet_node_median_seconds": node_medians(by_approach["a_dbt_parquet"]),
    }


# --------------------------------------------------------------------------------------------
# Report
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


def _short(node: str) -> str:
    return node.split(".", 2)[-1] if node.startswith(("model.", "operation.", "seed.")) else node


APPROACH_LABELS = {
    "a_dbt": "(a) dbt build, CSV",
    "a_dbt_parquet": "(a2) dbt build, Parquet copies",
    "b_pandas": "(b) pandas + sklearn",
    "c_duckdb": "(c) one DuckDB query + sklearn",
}


def _node_table(nodes: dict[str, float], startup: float, title: str) -> list[str]:
    lines = [
        "",
        title,
        "",
        "Median per-node execution time from dbt's `run_results.json` over the timed runs (2 "
        "threads, so nodes overlap and the sum exceeds the wall time). dbt start-up (invocation "
        f"start to the first node: parse cache, adapter, catalog) took {startup:.1f} s; the Python "
        "interpreter and dbt's imports come before that.",
        "",
        "| node | seconds |",
        "| --- | ---: |",
    ]
    non_tests = {k: v for k, v in nodes.items() if not k.startswith(("test.", "unit_test."))}
    shown = sorted(non_tests.items(), key=lambda kv: -kv[1])
    lines += [f"| {_short(node)} | {seconds:.2f} |" for node, seconds in shown[:15]]
    rest = shown[15:]
    if rest:
        lines.append(f"| {len(rest)} other models, seeds and hooks (sum) | {sum(v for _, v in rest):.2f} |")
    tests = [v for k, v in nodes.items() if k.startswith("test.")]
    units = [v for k, v in nodes.items() if k.startswith("unit_test.")]
    lines.append(f"| {len(tests)} data tests (sum) | {sum(tests):.2f} |")
    lines.append(f"| {len(units)} unit tests (sum) | {sum(units):.2f} |")
    slowest = sorted(((k, v) for k, v in nodes.items() if k.startswith("test.")), key=lambda kv: -kv[1])[:5]
    lines += [
        "",
        "Slowest data tests: " + "; ".join(f"`{k.split('.')[2]}` {v:.2f} s" for k, v in slowest) + ".",
    ]
    return lines


def source_commit() -> str:
    """The checked-out commit the timings belong to (``-dirty`` with uncommitted changes)."""
    return git_commit(REPO_ROOT, short=True) or "unknown (not a git checkout)"


def render(results: dict[str, Any]) -> str:
    lines = [
        "# Benchmarks",
        "",
        "Generated by `make bench` (`bench/run_benchmark.py`) on "
        f"{results['date']} at commit {results.get('commit', 'unknown')}; raw numbers in "
        "`data/bench/results.json` (not committed).",
        "",
        "## What is compared",
        "",
        "On a MIMIC-shaped generated release of N patients (`mimic_segments.synthetic.generator`, seed "
        f"{SEED}, MIMIC-IV {RELEASE} volumes per patient; gzipped CSVs in the official layout), "
        "with the full feature set of `patient_features` (utilization, readmissions, emergency and "
        "ED use, Charlson, HCUP chronic conditions, ICU, deaths, demographics) and the K-Means "
        "segmentation:",
        "",
        "- **(a) dbt build, CSV**: this project's full `dbt build` in full-release mode "
        "(`mimic_source_mode: release`, what `make release-build` runs) into an empty DuckDB file: "
        "the on-run-start release check, the reference seeds, every model (staging and "
        "intermediate as tables), every data test and unit test (the staging unit tests run in "
        "demo mode only: their fixtures stand in for the demo seeds), and the Python models "
        "(k-selection diagnostics on samples, the full-population fit, personas, scoring).",
        "- **(a2) dbt build, Parquet copies**: the same build over Parquet copies of the release "
        "(`mimic_release_format: parquet`), written once by `make release-parquet`; the one-time "
        "conversion is timed apart and not included.",
        "- **(b) pandas**: what a user would otherwise write: pandas reads the same CSVs (and the "
        "same reference code lists), computes the same features with sort/groupby/merge, then the "
        "same full-population K-Means fit (`bench/approaches.py pandas`).",
        "- **(c) DuckDB**: the lower bound: one hand-written DuckDB query over the same files for "
        "the same features, then the same fit (`bench/approaches.py duckdb`).",
        "",
        "Before timing, each approach runs once untimed (warm-up: dbt's parse cache, the OS file "
        "cache) and the results are compared patient by patient: every column of "
        "`patient_features` (floats to 1e-9) and the cluster id; the benchmark stops if any differ. "
        f"Then {results['runs']} rounds of (a), (a2), (b), (c), each a fresh process: wall time "
        "(median, min-max in brackets), CPU time (user + system) and the process's peak resident "
        "memory (`wait4` rusage). The machine is shared: before each run the benchmark waits (up "
        f"to {QUIET_WAIT_SECONDS:.0f} s) until other processes use under 25% of the CPU, and "
        "records how busy it was.",
        "",
        "## Machine",
        "",
        "| | |",
        "| --- | --- |",
    ]
    lines += [f"| {key} | {value} |" for key, value in results["machine"].items()]
    order = ("a_dbt", "a_dbt_parquet", "b_pandas", "c_duckdb")
    lines += [
        "",
        "## Results",
        "",
        "Wall time, median of the runs [min-max]:",
        "",
        "| N patients | admissions | diagnoses | ICU stays | "
        + " | ".join(APPROACH_LABELS[n] for n in order)
        + " | a/b | a/c | a2/b | a2/c |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for size in results["sizes"]:
        ap = size["approaches"]
        rows = size["rows"]
        cells = [
            f"{ap[n]['median_seconds']:.1f} s [{ap[n]['min_seconds']:.1f}-{ap[n]['max_seconds']:.1f}]"
            for n in order
        ]
        lines.append(
            f"| {size['patients']:,} | {rows['hosp/admissions']:,} | {rows['hosp/diagnoses_icd']:,} "
            f"| {rows['icu/icustays']:,} | "
            + " | ".join(cells)
            + f" | {size['a_over_b']:.2f} | {size['a_over_c']:.2f} | {size['a_parquet_over_b']:.2f} "
            f"| {size['a_parquet_over_c']:.2f} |"
        )
    lines += [
        "",
        "CPU time (median, user + system, all threads) and peak resident memory (max over runs):",
        "",
        "| N patients | " + " | ".join(APPROACH_LABELS[n] for n in order) + " | Parquet conversion (once) |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for size in results["sizes"]:
        ap = size["approaches"]
        cells = [f"{ap[n]['median_cpu_seconds']:.1f} s, {ap[n]['peak_rss_mb'] / 1024:.2f} GB" for n in order]
        conversion = size.get("parquet_conversion_seconds")
        lines.append(
            f"| {size['patients']:,} | " + " | ".join(cells) + f" | {conversion:.1f} s |"
            if conversion is not None
            else f"| {size['patients']:,} | " + " | ".join(cells) + " | - |"
        )
    busy = [b for size in results["sizes"] for n in order for b in size["approaches"][n]["busy_before"]]
    if busy:
        lines += [
            "",
            f"Other load before the timed runs: median {statistics.median(busy):.0%}, max {max(busy):.0%} "
            "of the CPU.",
        ]

    largest = results["sizes"][-1]
    a = largest["approaches"]["a_dbt"]
    a2 = largest["approaches"]["a_dbt_parquet"]
    checks = [
        (
            "dbt build within 45 s",
            a["median_seconds"] <= TARGETS["dbt_seconds"],
            f"{a['median_seconds']:.1f} s",
        ),
        (
            "dbt build within 3 GB peak RSS",
            a["peak_rss_mb"] / 1024 <= TARGETS["dbt_peak_gb"],
            f"{a['peak_rss_mb'] / 1024:.2f} GB",
        ),
        ("(a) no slower than (b)", largest["a_over_b"] <= 1.0, f"a/b = {largest['a_over_b']:.2f}"),
        ("a/c at most 2.5", largest["a_over_c"] <= TARGETS["a_over_c"], f"a/c = {largest['a_over_c']:.2f}"),
        (
            "(a2), over Parquet copies: no slower than (b)",
            largest["a_parquet_over_b"] <= 1.0,
            f"{a2['median_seconds']:.1f} s, a2/b = {largest['a_parquet_over_b']:.2f}",
        ),
    ]
    lines += [
        "",
        f"### Targets at N = {largest['patients']:,} (2 cores)",
        "",
        "| target | measured | met |",
        "| --- | --- | --- |",
    ]
    lines += [f"| {name} | {value} | {'yes' if ok else '**no**'} |" for name, ok, value in checks]
    nodes = largest["dbt_node_median_seconds"]
    smallest = results["sizes"][0]
    if smallest is not largest:
        kinds = {
            kind: sum(1 for node in nodes if node.startswith(f"{kind}."))
            for kind in ("model", "seed", "test", "unit_test")
        }

        def median(size: dict[str, Any], name: str) -> float:
            return float(size["approaches"][name]["median_seconds"])

        grow = {n: median(largest, n) - median(smallest, n) for n in ("a_dbt", "a_dbt_parquet", "c_duckdb")}
        lines += [
            "",
            "### Fixed and marginal cost",
            "",
            f"At N = {smallest['patients']:,}, (a) takes {median(smallest, 'a_dbt'):.1f} s and (c) "
            f"{median(smallest, 'c_duckdb'):.1f} s: (a)'s time there is almost all fixed cost, the same at "
            "any N: Python and dbt start-up, dbt's per-node work (compiling, running and logging each "
            f"of {sum(kinds.values())} nodes: {kinds['model']} models, {kinds['seed']} seeds, "
            f"{kinds['test']} data tests, {kinds['unit_test']} unit tests) and the k-selection "
            f"diagnostics, which fit fixed-size samples. From {smallest['patients']:,} to "
            f"{largest['patients']:,} patients (a) grows by {grow['a_dbt']:.1f} s, (a2) by "
            f"{grow['a_dbt_parquet']:.1f} s and (c) by {grow['c_duckdb']:.1f} s: the data work of the "
            f"build costs {grow['a_dbt'] / grow['c_duckdb']:.1f}x the lower bound's "
            f"({grow['a_dbt_parquet'] / grow['c_duckdb']:.1f}x over Parquet copies).",
        ]
    unit_times = [t for node, t in nodes.items() if node.startswith("unit_test.")]
    diagnostics_seconds = nodes.get("model.mimic_segments.segmentation_diagnostics", 0.0)
    lines += [
        "",
        "### What the gap to (b) and (c) comes from, and what was done",
        "",
        "Profiled with dbt's `run_results.json` (node timelines) and py-spy (2026-11-26):",
        "",
        "- **Per-node work**: dbt compiles each node from Jinja with a full runtime context, runs "
        "it and emits structured log events. That Python-side work holds the GIL, so it does not "
        "spread over dbt's two threads, and for small test queries it costs more than the query "
        "(about 20 ms a node). It does not grow with N and is in neither (b) nor (c).",
        "- **Start-up**: the Python interpreter and dbt's imports, the parse cache and the adapter "
        "(see the start-up line under the node tables), and the import of scikit-learn by the "
        "first Python model.",
        f"- **The k-selection diagnostics** ({diagnostics_seconds:.1f} s at N = "
        f"{largest['patients']:,}, median): 77 K-Means fits of a fixed-size sample and 7 "
        "silhouettes, which (b) and (c) do not do. They no longer delay the rest of the build "
        "(below), but they compete with it for the two cores.",
        "- **Data work**: the build reads each file once, but writes staging and intermediate "
        "tables of millions of rows that (c) never materializes, and its tests read them again.",
        "- **Done, first pass**: staging reads each release file once (tables from CSV, views over "
        "Parquet); intermediate aggregates are computed once, not once per test; the pre-flight "
        "check reads every header in one query; `int_diagnoses_distinct_per_patient` no longer "
        "carries each code's title on millions of rows; the diagnostics fit the k values side by "
        "side on both cores; dbt's file log at `info` (logging every statement at `debug` cost "
        "about a tenth of the CPU).",
        "- **Done, second pass** (same checks, fewer nodes and scans): (1) per-column `not_null` "
        "checks became `not_null` constraints: in the contracted marts the database refuses a "
        "null while the table is built (no query, no node), and everywhere else one "
        "`matches_declared_contract` test per table checks all its not-null columns in one scan "
        "(the demo build went from 465 dbt nodes to 297); (2) four tests that "
        "regrouped the 6.4 million diagnosis rows (7 s of node time at full scale) were replaced "
        "by checks they are implied by (a left join that keeps the row count cannot fan out; a "
        "(subject_id, hadm_id) relationship test instead of re-deriving a count-distinct); (3) "
        "the diagnosis-grain models no longer build a string key per row or count distinct "
        "admissions per code (unused); (4) `segment_centroids` takes a fixed `cluster_k` from "
        "the config instead of reading `segmentation_diagnostics`, so the full fit runs beside "
        "the diagnostics rather than after them (a test holds the two k equal); (5) the "
        "silhouette distance matrix is computed once for all k (it was computed per k on the "
        "same rows).",
        "- **Would close more of the gap** (project decisions, not taken here): run the unit tests "
        f"in CI only, as dbt recommends for production builds ({len(unit_times)} unit tests, "
        f"{sum(unit_times):.1f} s of node time here; their fixtures are static, so at scale they "
        "test nothing new); cheaper diagnostics (fewer initialisations per bootstrap refit, or a "
        "smaller sample), which would change the selection statistics; fold the range and "
        "accepted-values tests the way `not_null` was folded (kept as tests here because "
        "Snowflake and BigQuery do not enforce check constraints); read the HCUP reference with "
        "`read_csv` instead of seeding it on every build.",
    ]
    lines += _node_table(
        largest["dbt_node_median_seconds"],
        largest["dbt_startup_seconds"],
        f"### Where (a)'s time goes at N = {largest['patients']:,}",
    )
    lines += _node_table(
        largest["dbt_parquet_node_median_seconds"],
        largest.get("dbt_parquet_startup_seconds", 0.0),
        f"### Where (a2)'s time goes at N = {largest['patients']:,}",
    )

    gen = results.get("generator_throughput")
    if gen:
        lines += [
            "",
            "## Generator throughput",
            "",
            f"`python -m mimic_segments.synthetic.generator --patients {gen['patients']:,}` (2 cores): "
            f"{gen['seconds']:.1f} s wall, peak RSS {gen['peak_rss_mb']:.0f} MB, "
            f"{gen['patients'] / gen['seconds']:,.0f} patients/s; rows: "
            + ", ".join(f"{k} {v:,}" for k, v in gen["rows"].items())
            + ".",
        ]
    lines += [
        "",
        "## Reproduce",
        "",
        "```bash",
        "make bench                                        # 10k, 100k, 364,627 patients; 3 runs each",
        "make bench BENCH_ARGS='--sizes 10000 --runs 3 --generator-patients 0'",
        "```",
        "",
        "Generated releases, their Parquet copies and the work files go to `data/bench/` (git-ignored).",
        "",
    ]
    return "\n".join(lines)


def generator_throughput(patients: int, data_dir: Path) -> dict[str, Any]:
    out = data_dir / "generator-throughput"
    shutil.rmtree(out, ignore_errors=True)
    log(f"generator throughput: {patients:,} patients")
    run = measure(
        [
            str(PYTHON),
            "-m",
            "mimic_segments.synthetic.generator",
            "--patients",
            str(patients),
            "--seed",
            str(SEED),
            "--out",
            str(out),
        ],
        dict(os.environ),
        data_dir / "generator-throughput.log",
        quiet=True,
    )
    seconds, peak = run.seconds, run.peak_rss_mb
    rows = {}
    for line in (data_dir / "generator-throughput.log").read_text().splitlines():
        if line.startswith("wrote "):
            for part in line.split(": ", 1)[1].split(", "):
                name, count = part.rsplit(" ", 1)
                rows[name] = int(count.replace(",", ""))
    shutil.rmtree(out, ignore_errors=True)
    log(f"generator throughput: {seconds:.1f} s, peak {peak:.0f} MB")
    return {"patients": patients, "seconds": seconds, "peak_rss_mb": peak, "rows": rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=",".join(str(n) for n in DEFAULT_SIZES), help="comma-separated N")
    parser.add_argument("--runs", type=int, default=3, help="timed rounds per size (default 3)")
    parser.add_argument("--data-dir", type=Path, default=REPO_ROOT / "data" / "bench")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "BENCHMARKS.md")
    parser.add_argument(
        "--generator-patients", type=int, default=1_000_000, help="generator throughput run (0 to skip)"
    )
    parser.add_argument(
        "--render-only", action="store_true", help="rewrite --out from data/bench/results.json, run nothing"
    )
    args = parser.parse_args(argv)
    if args.render_only:
        args.out.write_text(render(json.loads((args.data_dir / "results.json").read_text())))
        log(f"wrote {args.out}")
        return 0
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    args.data_dir.mkdir(parents=True, exist_ok=True)

    results: dict[str, Any] = {
        "date": dt.date.today().isoformat(),
        "commit": source_commit(),
        "runs": args.runs,
        "machine": machine(),
        "sizes": [],
    }
    for patients in sizes:
        size = prepare(patients, args.data_dir)
        size.work_dir.mkdir(parents=True, exist_ok=True)
        convert_to_parquet(size)
        agreement = verify(size)
        measurements: list[Measurement] = []
        for round_number in range(1, args.runs + 1):
            measurements += timed_round(size, round_number, args.runs)
        summary = summarise(size, measurements, agreement)
        results["sizes"].append(summary)
        log(
            f"N={patients:,}: medians a {summary['approaches']['a_dbt']['median_seconds']:.1f} s, "
            f"b {summary['approaches']['b_pandas']['median_seconds']:.1f} s, "
            f"c {summary['approaches']['c_duckdb']['median_seconds']:.1f} s; "
            f"a/b {summary['a_over_b']:.2f}, a/c {summary['a_over_c']:.2f}"
        )
    if args.generator_patients > 0:
        results["generator_throughput"] = generator_throughput(args.generator_patients, args.data_dir)
    (args.data_dir / "results.json").write_text(json.dumps(results, indent=1, default=str))
    args.out.write_text(render(results))
    log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
