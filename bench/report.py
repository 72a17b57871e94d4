"""BENCHMARKS.md and its cost-curve figure, from the results ``run_benchmark.py`` measured.

Everything here is a pure function of the results dict (``data/bench/results.json``) except
``write``, which writes the two files; ``run_benchmark.py --render-only`` re-renders them from
the JSON without running anything. The hand-written analysis (what the time goes to, what was
done about it) lives in ``bench/analysis.md`` and is included as it is.
"""

from __future__ import annotations

import os
import statistics
from pathlib import Path
from typing import Any

from measure import GIB, SAMPLE_SECONDS, describe_failure, format_gib

ANALYSIS_PATH = Path(__file__).with_name("analysis.md")
ORDER = ("a_production", "a_full", "b_pandas", "c_duckdb")
DBT_KEYS = ("a_production", "a_full")
DUCKDB_KEYS = ("a_production", "a_full", "c_duckdb")  # the approaches that can spill
BASELINE_KEY = "ref_full"  # the full build of the baseline commit, when it was timed
SHORT = {
    "a_production": "(a)",
    "a_full": "(a-full)",
    "b_pandas": "(b)",
    "c_duckdb": "(c)",
    BASELINE_KEY: "(ref)",
}
MIMIC_IV_PATIENTS = 364_627
TEN_TIMES = 10 * MIMIC_IV_PATIENTS
SMALL = 10_000
FULL_BUILD_BASELINE_SECONDS = 16.6  # the baseline: the full build at 10,000 patients on 2026-11-26
TARGETS = {
    "a_over_b": 1.0,  # at 364,627: the production build no slower than pandas
    "a_over_c": 2.0,  # at 364,627: at most twice the raw DuckDB query
    "small_share": 0.5,  # at 10,000: at most half of the full build
    "per_patient_growth": 1.3,  # time per patient at 3.6M over that at 364,627
}
MIN_RUNS_FOR_TARGETS = 3


# --------------------------------------------------------------------------------------------
# Cells
# --------------------------------------------------------------------------------------------


def failure_text(approach: dict[str, Any], cap_bytes: int) -> str | None:
    failure = approach.get("failure")
    if not failure:
        return None
    text = describe_failure(failure["status"], failure["seconds"], cap_bytes, failure.get("detail", ""))
    return f"{text} ({failure['phase']})"


def wall_cell(approach: dict[str, Any], cap_bytes: int) -> str:
    """Median wall time [min-max], or the failure that ended the runs, or both."""
    parts = []
    if approach.get("median_seconds") is not None:
        low, high = approach["min_seconds"], approach["max_seconds"]
        parts.append(f"{approach['median_seconds']:.1f} s [{low:.1f}-{high:.1f}]")
    failed = failure_text(approach, cap_bytes)
    if failed:
        parts.append(f"**{failed}**")
    return "; ".join(parts) or "-"


def memory_cell(approach: dict[str, Any]) -> str:
    if approach.get("median_seconds") is None:
        return "-"
    return (
        f"{approach['median_cpu_seconds']:.1f} s, {approach['peak_tree_rss_mb'] / 1024:.2f} GiB "
        f"({approach['peak_rss_mb'] / 1024:.2f})"
    )


def spill_cell(approach: dict[str, Any]) -> str:
    if approach.get("peak_spill_mb") is None:
        return "-"
    return f"{approach['peak_spill_mb'] / 1024:.2f} GiB" if approach["peak_spill_mb"] >= 1 else "0"


def ratio_cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def median_text(size: dict[str, Any], key: str, cap_bytes: int) -> str:
    """One approach at one size in a log line."""
    approach = size["approaches"][key]
    failed = failure_text(approach, cap_bytes)
    if approach.get("median_seconds") is None:
        return f"{key} {failed or 'not run'}"
    return f"{key} {approach['median_seconds']:.1f} s" + (f" ({failed})" if failed else "")


# --------------------------------------------------------------------------------------------
# Targets
# --------------------------------------------------------------------------------------------


def size_at(results: dict[str, Any], patients: int) -> dict[str, Any] | None:
    return next((s for s in results["sizes"] if s["patients"] == patients), None)


def _median(size: dict[str, Any] | None, key: str) -> float | None:
    if size is None:
        return None
    value = size["approaches"][key].get("median_seconds")
    return None if value is None else float(value)


def _check(name: str, value: float | None, limit: float, shown: str) -> tuple[str, str, str]:
    if value is None:
        return name, "not measured (size not run, or the approach did not complete)", "-"
    return name, shown, "yes" if value <= limit else "**no**"


def target_rows(results: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(target, measured, met) for each speed target the results can answer."""
    mimic, small, large = (size_at(results, n) for n in (MIMIC_IV_PATIENTS, SMALL, TEN_TIMES))
    ratios = mimic["ratios"] if mimic else {}
    a_b, a_c = ratios.get("a_production/b_pandas"), ratios.get("a_production/c_duckdb")
    rows = [
        _check(
            f"N = {MIMIC_IV_PATIENTS:,}: (a) no slower than (b)",
            a_b,
            TARGETS["a_over_b"],
            f"a/b = {ratio_cell(a_b)}",
        ),
        _check(
            f"N = {MIMIC_IV_PATIENTS:,}: (a) at most {TARGETS['a_over_c']:.1f}x (c)",
            a_c,
            TARGETS["a_over_c"],
            f"a/c = {ratio_cell(a_c)}",
        ),
    ]
    a_small = _median(small, "a_production")
    against_baseline = small["ratios"].get(f"a_production/{BASELINE_KEY}") if small else None
    if against_baseline is not None:
        # the baseline build (16.6 s on 2026-11-26), timed again in the same rounds as (a): the
        # machine's speed of the day cancels out
        rows.append(
            _check(
                f"N = {SMALL:,}: (a) at most half of the baseline full build "
                f"({results['baseline']['commit']}, {FULL_BUILD_BASELINE_SECONDS} s then), side by side",
                against_baseline,
                TARGETS["small_share"],
                f"a/ref = {ratio_cell(against_baseline)} ({a_small:.1f} s against "
                f"{_median(small, BASELINE_KEY):.1f} s)",
            )
        )
    else:
        rows.append(
            _check(
                f"N = {SMALL:,}: (a) at most half of the full build's {FULL_BUILD_BASELINE_SECONDS} s "
                "(the baseline, measured on 2026-11-26, not side by side)",
                a_small,
                TARGETS["small_share"] * FULL_BUILD_BASELINE_SECONDS,
                f"{a_small:.1f} s" if a_small is not None else "",
            )
        )
    side_by_side = small["ratios"].get("a_production/a_full") if small else None
    rows.append(
        _check(
            f"N = {SMALL:,}: (a) at most half of (a-full), side by side",
            side_by_side,
            TARGETS["small_share"],
            f"a/a-full = {ratio_cell(side_by_side)}",
        )
    )
    growth = per_patient_growth(mimic, large, "a_production")
    rows.append(
        _check(
            f"time per patient of (a) at {TEN_TIMES:,} at most {TARGETS['per_patient_growth']}x that at "
            f"{MIMIC_IV_PATIENTS:,}",
            growth,
            TARGETS["per_patient_growth"],
            f"{ratio_cell(growth)}x",
        )
    )
    rows.append(memory_target(results, large))
    return rows


def baseline_table(results: dict[str, Any]) -> list[str]:
    """Before and after: (a) and (a-full) beside the baseline's full build, where it was timed."""
    baseline = results.get("baseline")
    sizes = [s for s in results["sizes"] if BASELINE_KEY in s["approaches"]]
    if not baseline or not sizes:
        return []
    cap = results["memory"]["cap_bytes"]
    lines = [
        "",
        f"Before and after, in the same rounds: {results['labels'][BASELINE_KEY]}, the baseline build, "
        "from a copy of that commit on this checkout's environment (median wall time [min-max]):",
        "",
        f"| N patients | {SHORT[BASELINE_KEY]} | (a) | (a-full) | a/ref | a-full/ref |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for size in sizes:
        approaches, ratios = size["approaches"], size["ratios"]
        lines.append(
            f"| {size['patients']:,} | {wall_cell(approaches[BASELINE_KEY], cap)} "
            f"| {wall_cell(approaches['a_production'], cap)} | {wall_cell(approaches['a_full'], cap)} "
            f"| {ratio_cell(ratios.get(f'a_production/{BASELINE_KEY}'))} "
            f"| {ratio_cell(ratios.get(f'a_full/{BASELINE_KEY}'))} |"
        )
    return lines


def per_patient_growth(base: dict[str, Any] | None, large: dict[str, Any] | None, key: str) -> float | None:
    """Seconds per patient at the large size over seconds per patient at the base size."""
    base_seconds, large_seconds = _median(base, key), _median(large, key)
    if base is None or large is None or base_seconds is None or large_seconds is None:
        return None
    return (large_seconds / large["patients"]) / (base_seconds / base["patients"])


def memory_target(results: dict[str, Any], large: dict[str, Any] | None) -> tuple[str, str, str]:
    memory = results["memory"]
    name = (
        f"N = {TEN_TIMES:,}: (a) completes under the {format_gib(memory['cap_bytes'])} GiB cap with DuckDB's "
        f"memory_limit at {memory['duckdb_memory_limit']}"
    )
    if large is None:
        return name, "not measured (size not run)", "-"
    approach = large["approaches"]["a_production"]
    if approach.get("median_seconds") is None:
        return name, failure_text(approach, memory["cap_bytes"]) or "not run", "**no**"
    peak = approach["peak_tree_rss_mb"] * 2**20
    beyond = peak - memory["duckdb_memory_limit_bytes"]
    shown = (
        f"peak {peak / GIB:.2f} GiB: the memory_limit + {beyond / GIB:.2f} GiB for the Python models, dbt"
        if beyond > 0
        else f"peak {peak / GIB:.2f} GiB, within the memory_limit"
    )
    ok = peak <= memory["cap_bytes"] and approach.get("failure") is None
    return name, shown, "yes" if ok else "**no**"


# --------------------------------------------------------------------------------------------
# The figure
# --------------------------------------------------------------------------------------------


def plot(results: dict[str, Any], path: Path) -> None:
    """Wall time and peak memory against N, log axes, one line per approach; failures marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import ticker

    cap_gib = results["memory"]["cap_bytes"] / GIB
    limit_gib = results["memory"]["duckdb_memory_limit_bytes"] / GIB
    labels = results["labels"]
    figure, (time_axis, memory_axis) = plt.subplots(1, 2, figsize=(12, 4.8))
    for index, key in enumerate(ORDER):
        color = f"C{index}"
        done = [s for s in results["sizes"] if s["approaches"][key].get("median_seconds") is not None]
        xs = [s["patients"] for s in done]
        time_axis.plot(
            xs, [s["approaches"][key]["median_seconds"] for s in done], "o-", color=color, label=labels[key]
        )
        memory_axis.plot(
            xs,
            [s["approaches"][key]["peak_tree_rss_mb"] / 1024 for s in done],
            "o-",
            color=color,
            label=labels[key],
        )
        for size in results["sizes"]:
            failure = size["approaches"][key].get("failure")
            if not failure:
                continue
            word = "out of memory" if failure["status"] == "oom" else "failed"
            time_axis.plot([size["patients"]], [failure["seconds"]], "X", color=color, markersize=11)
            time_axis.annotate(
                word,
                (size["patients"], failure["seconds"]),
                textcoords="offset points",
                xytext=(6, 4),
                color=color,
            )
            # at the limit it ran into: DuckDB's own, or the cap
            duckdb_limit = "Out of Memory Error" in failure.get("detail", "")
            at = min(cap_gib, limit_gib) if duckdb_limit else cap_gib
            memory_axis.plot([size["patients"]], [at], "X", color=color, markersize=11)
            memory_axis.annotate(
                word, (size["patients"], at), textcoords="offset points", xytext=(6, -12), color=color
            )
    memory_axis.axhline(cap_gib, color="grey", linestyle="--", linewidth=1)
    memory_axis.annotate(
        f"cap {cap_gib:.3g} GiB", (0.01, cap_gib), xycoords=("axes fraction", "data"), va="bottom"
    )
    memory_axis.axhline(limit_gib, color="grey", linestyle=":", linewidth=1)
    memory_axis.annotate(
        f"DuckDB memory_limit {limit_gib:.3g} GiB",
        (0.01, limit_gib),
        xycoords=("axes fraction", "data"),
        va="bottom",
    )
    for axis, title, unit in (
        (time_axis, "Wall time (median)", "seconds"),
        (memory_axis, "Peak resident memory of the process tree", "GiB"),
    ):
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:,.0f}"))
        axis.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        axis.yaxis.set_minor_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        axis.set_xlabel("patients (N)")
        axis.set_ylabel(unit)
        axis.set_title(title)
        axis.grid(True, which="both", alpha=0.3)
    handles, names = time_axis.get_legend_handles_labels()
    figure.legend(handles, names, loc="lower center", ncol=len(ORDER), fontsize="small")
    figure.suptitle(
        f"Cost curve, {results['machine'].get('cores', '?')} cores (X: out of memory or failed; "
        f"medians of {results['runs']} runs)"
    )
    figure.tight_layout(rect=(0, 0.07, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


# --------------------------------------------------------------------------------------------
# The page
# --------------------------------------------------------------------------------------------


def _short(node: str) -> str:
    return node.split(".", 2)[-1] if node.startswith(("model.", "operation.", "seed.")) else node


def node_table(nodes: dict[str, float], startup: float | None, title: str) -> list[str]:
    lines = [
        "",
        title,
        "",
        "Median per-node execution time from dbt's `run_results.json` over the timed runs (2 "
        "threads, so nodes overlap and the sum exceeds the wall time). dbt start-up (invocation "
        f"start to the first node: parse cache, adapter, catalog) took {startup or 0.0:.1f} s; the "
        "Python interpreter and dbt's imports come before that.",
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
    if slowest:
        lines += [
            "",
            "Slowest data tests: " + "; ".join(f"`{k.split('.')[2]}` {v:.2f} s" for k, v in slowest) + ".",
        ]
    return lines


def _node_counts(nodes: dict[str, float]) -> str:
    kinds = {
        kind: sum(1 for n in nodes if n.startswith(f"{kind}."))
        for kind in ("model", "seed", "test", "unit_test")
    }
    return (
        f"{sum(kinds.values())} nodes: {kinds['model']} models, {kinds['seed']} seeds, {kinds['test']} data "
        f"tests, {kinds['unit_test']} unit tests"
    )


def _profiled_size(results: dict[str, Any], key: str) -> dict[str, Any] | None:
    """Where to show a build's node timings: MIMIC-IV's size if it completed there, else the largest."""
    done = [s for s in results["sizes"] if s["dbt"][key]["node_median_seconds"]]
    if not done:
        return None
    return next((s for s in done if s["patients"] == MIMIC_IV_PATIENTS), done[-1])


def marginal_cost(results: dict[str, Any]) -> list[str]:
    """Fixed and marginal cost, from the smallest and largest sizes where the approaches completed."""
    sizes = results["sizes"]
    if len(sizes) < 2:
        return []
    smallest, largest = sizes[0], sizes[-1]
    grow = {key: None for key in ORDER}
    for key in ORDER:
        low, high = _median(smallest, key), _median(largest, key)
        if low is not None and high is not None:
            grow[key] = high - low
    shown = [f"{SHORT[k]} by {g:.1f} s" for k, g in grow.items() if g is not None]
    if not shown:
        return []
    lines = [
        "",
        "### Fixed and marginal cost",
        "",
        f"From {smallest['patients']:,} to {largest['patients']:,} patients the median wall time grows: "
        + ", ".join(shown)
        + ".",
    ]
    a_low, c_low = _median(smallest, "a_production"), _median(smallest, "c_duckdb")
    if a_low is not None and c_low is not None:
        lines[-1] += (
            f" At {smallest['patients']:,} patients (a) takes {a_low:.1f} s and (c) {c_low:.1f} s: what (a) "
            "spends beyond (c) there is mostly fixed cost, the same at any N (Python and dbt start-up, "
            "dbt's per-node work, the diagnostics' fixed-size samples)."
        )
    if grow["a_production"] is not None and grow["c_duckdb"]:
        lines[-1] += (
            f" The data work of (a) costs {grow['a_production'] / grow['c_duckdb']:.1f}x the lower bound's."
        )
    per_patient = [
        "",
        "Time per patient against MIMIC-IV's size (the same approach's median at N over that at "
        f"{MIMIC_IV_PATIENTS:,}, per patient; 1.00 = linear):",
        "",
        "| N patients | " + " | ".join(SHORT[k] for k in ORDER) + " |",
        "| ---: | " + " | ".join("---:" for _ in ORDER) + " |",
    ]
    base = size_at(results, MIMIC_IV_PATIENTS)
    if base is not None:
        for size in sizes:
            per_patient.append(
                f"| {size['patients']:,} | "
                + " | ".join(ratio_cell(per_patient_growth(base, size, k)) for k in ORDER)
                + " |"
            )
        lines += per_patient
    return lines


def method(results: dict[str, Any]) -> list[str]:
    memory = results["memory"]
    baseline = results.get("baseline")
    before = (
        [
            f"- **Before and after**: up to {baseline['max_patients']:,} patients each round also times "
            f"{results['labels'][BASELINE_KEY]}, the full build of the baseline commit the speed "
            "targets were set against (copied out of git into `data/bench/`, with that commit's reference "
            "seed, run on this checkout's dbt, DuckDB and Python packages). Its mart predates some "
            "features, so it is timed, not compared.",
        ]
        if baseline
        else []
    )
    return [
        "## Method",
        "",
        f"- **Agreement**: up to {results['warm_up_max']:,} patients each approach first runs once untimed "
        "(warm-up: dbt's parse cache, the OS file cache) and the results are compared patient by patient: "
        "every column of `patient_features` (floats to 1e-9) and the cluster id; the benchmark stops if any "
        "differ. Above that size a warm-up run costs minutes: dbt's parse cache is primed with `dbt parse` "
        "and the outputs of the first timed round are compared instead (writing (b)'s and (c)'s features "
        "to Parquet makes their first round a little slower; the median of three is robust to that).",
        f"- **Timing**: {results['runs']} interleaved round{'s' if results['runs'] != 1 else ''} of (a), "
        "(a-full), (b), (c), each a fresh "
        "process, every dbt build into an empty database: wall time (median, min-max in brackets) and CPU "
        "time (user + system of the process and the children it waited for, from `wait4`). The machine is "
        "shared: before each timed run the benchmark waits (up to 120 s) until other processes use under "
        "25% of the CPU, and records how busy it was.",
        "- **Memory**: each approach runs in its own process session under a cap of "
        f"{memory['cap_description']}. "
        "Peak RSS is the process tree's resident memory summed over its processes, sampled every "
        f"{SAMPLE_SECONDS:g} s; in brackets the largest single process (`wait4`'s `ru_maxrss`). "
        + launcher_note(results)
        + " An approach "
        "that runs out of memory (the cap, Python's `MemoryError`, DuckDB's own limit, the kernel) or fails "
        "is reported with how long it ran, and is not run again at that size; the others continue.",
        f"- **DuckDB**: `memory_limit` = {memory['duckdb_memory_limit']} for (a), (a-full) and (c), through "
        "`MIMIC_SEGMENTS_DUCKDB_MEMORY_LIMIT`, which `profiles.yml` reads (default `80%`, DuckDB's "
        "own). Past it DuckDB spills to its `temp_directory` (beside the database file, `<path>.tmp/`; "
        "for (c) a directory of the benchmark's): spill is the high-water mark of that directory's "
        f"allocated size, sampled every {SAMPLE_SECONDS:g} s. pandas (b) has no such limit.",
        *before,
    ]


def launcher_note(results: dict[str, Any]) -> str:
    """How the runs were started, which decides the floor under their `ru_maxrss`."""
    if results.get("launcher"):
        return (
            "The runs are started by a helper process of a few megabytes (`bench/launcher.py`), started "
            "before any data is loaded: on Linux a process's `ru_maxrss` starts at its parent's peak, "
            "which for the benchmark itself is gigabytes after an agreement check."
        )
    return (
        "These runs were started by the benchmark process itself: on Linux a process's `ru_maxrss` "
        "starts at its parent's peak, so after a large agreement check a run reports at least the "
        "benchmark's own peak (later runs are started by `bench/launcher.py`)."
    )


def render(results: dict[str, Any], analysis: str = "", figure: str | None = None) -> str:
    """The whole of BENCHMARKS.md; ``figure`` is the figure's path relative to the page."""
    labels = results["labels"]
    cap = results["memory"]["cap_bytes"]
    production = results["production"]
    lines = [
        "# Benchmarks",
        "",
        "Generated by `make bench` (`bench/run_benchmark.py`) on "
        f"{results['date']} at commit {results.get('commit', 'unknown')}; raw numbers in "
        "`data/bench/results.json` (not committed).",
        "",
        "## What is compared",
        "",
        "On a MIMIC-shaped generated release of N patients (`mimic_segments.synthetic.generator`, seed 42, "
        "MIMIC-IV 3.1 volumes per patient; gzipped CSVs in the official layout), with the full feature set "
        "of `patient_features` (utilization, readmissions, emergency and ED use, Charlson, HCUP chronic "
        "conditions, ICU, deaths, demographics) and the K-Means segmentation:",
        "",
    ]
    if production["selector_defined"]:
        lines.append(
            "- **(a) production build**: `dbt build --selector production` in full-release mode "
            "(`mimic_source_mode: release`) into an empty DuckDB file: the build users run on each new "
            "release (docs/publishing.md says what the selector leaves out)."
        )
    else:
        lines.append(
            f"- **{labels['a_production']}**: this commit's `selectors.yml` defines no `production` "
            f"selector, so (a) is `dbt build {' '.join(production['dbt_args'])}` in full-release mode: "
            "the full build without its unit tests. Every (a) on this page means that stand-in."
        )
    lines += [
        "- **(a-full) full build**: today's full `dbt build` in full-release mode (what `make release-build` "
        "runs) into an empty DuckDB file: the on-run-start release check, the reference seeds, every model, "
        "every data test and unit test, and the Python models (k-selection diagnostics on samples, the "
        "full-population fit, personas, scoring).",
        "- **(b) pandas**: what a user would otherwise write: pandas reads the same CSVs (and the same "
        "reference code lists), computes the same features with sort/groupby/merge, then the same "
        "full-population K-Means fit (`bench/approaches.py pandas`).",
        "- **(c) DuckDB**: the lower bound: one hand-written DuckDB query over the same files for the same "
        "features, then the same fit (`bench/approaches.py duckdb`).",
        "",
        "The build over Parquet copies of the release, timed as (a2) until 2026-11, is no longer timed: it "
        "was within 6% of the CSV build at every size measured then, and at 1M and 3.6M patients it would "
        "add about a quarter to a benchmark that already takes 70 to 95 minutes. Full-release mode over "
        "Parquet copies stays tested (`tests/python/test_release_mode.py`).",
        "",
        *method(results),
        "",
        "## Machine",
        "",
        "| | |",
        "| --- | --- |",
    ]
    lines += [f"| {key} | {value} |" for key, value in results["machine"].items()]
    lines += [
        "",
        "## Results",
        "",
        "Wall time, median of the runs [min-max]:",
        "",
        "| N patients | admissions | diagnoses | ICU stays | "
        + " | ".join(labels[k] for k in ORDER)
        + " | a/b | a/c | a-full/b | a-full/c |",
        "| ---: | ---: | ---: | ---: | "
        + " | ".join("---:" for _ in ORDER)
        + " | ---: | ---: | ---: | ---: |",
    ]
    for size in results["sizes"]:
        rows, ratios = size["rows"], size["ratios"]
        lines.append(
            f"| {size['patients']:,} | {rows.get('hosp/admissions', 0):,} "
            f"| {rows.get('hosp/diagnoses_icd', 0):,} | {rows.get('icu/icustays', 0):,} | "
            + " | ".join(wall_cell(size["approaches"][k], cap) for k in ORDER)
            + " | "
            + " | ".join(
                ratio_cell(ratios.get(r))
                for r in (
                    "a_production/b_pandas",
                    "a_production/c_duckdb",
                    "a_full/b_pandas",
                    "a_full/c_duckdb",
                )
            )
            + " |"
        )
    lines += [
        "",
        "CPU time (median, user + system) and peak resident memory of the process tree (max over the runs; "
        "the largest single process in brackets):",
        "",
        "| N patients | " + " | ".join(labels[k] for k in ORDER) + " |",
        "| ---: | " + " | ".join("---:" for _ in ORDER) + " |",
    ]
    lines += [
        f"| {size['patients']:,} | " + " | ".join(memory_cell(size["approaches"][k]) for k in ORDER) + " |"
        for size in results["sizes"]
    ]
    lines += [
        "",
        "DuckDB's spill to disk (high-water mark of its temp directory, max over the runs):",
        "",
        "| N patients | " + " | ".join(labels[k] for k in DUCKDB_KEYS) + " |",
        "| ---: | " + " | ".join("---:" for _ in DUCKDB_KEYS) + " |",
    ]
    lines += [
        f"| {size['patients']:,} | "
        + " | ".join(spill_cell(size["approaches"][k]) for k in DUCKDB_KEYS)
        + " |"
        for size in results["sizes"]
    ]
    busy = [
        run["busy_before"]
        for size in results["sizes"]
        for k in ORDER
        for run in size["approaches"][k]["runs"]
    ]
    if busy:
        lines += [
            "",
            f"Other load before the timed runs: median {statistics.median(busy):.0%}, "
            f"max {max(busy):.0%} of the CPU.",
        ]
    if figure:
        lines += [
            "",
            f"![Wall time and peak memory against N, log axes, one line per approach]({figure})",
        ]
    lines += ["", "### Speed targets (2 cores)", ""]
    if results["runs"] < MIN_RUNS_FOR_TARGETS:
        lines += [
            f"Only {results['runs']} run(s) per approach: the targets ask for medians of at least "
            f"{MIN_RUNS_FOR_TARGETS}, so these are indications, not the targets' measurement.",
            "",
        ]
    lines += ["| target | measured | met |", "| --- | --- | --- |"]
    lines += [f"| {name} | {value} | {met} |" for name, value, met in target_rows(results)]
    lines += baseline_table(results)
    lines += marginal_cost(results)
    for key in DBT_KEYS:
        size = _profiled_size(results, key)
        if size is None:
            continue
        nodes = size["dbt"][key]["node_median_seconds"]
        lines += node_table(
            nodes,
            size["dbt"][key]["startup_seconds"],
            f"### Where {SHORT[key]}'s time goes at N = {size['patients']:,} ({_node_counts(nodes)})",
        )
    if analysis.strip():
        lines += ["", analysis.strip()]
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
    lines += reproduce()
    return "\n".join(lines)


def reproduce() -> list[str]:
    return [
        "",
        "## Reproduce",
        "",
        "```bash",
        "make bench                                    # 10k, 100k, 364,627, 1M, 3,646,270 patients; 3 runs",
        "make bench BENCH_ARGS=--quick                 # 10k and 364,627 only, no generator run",
        "make bench BENCH_ARGS='--sizes 10000 --runs 1 --generator-patients 0'",
        "make bench BENCH_ARGS='--memory-cap-gb 12 --duckdb-memory-limit-gb 6'",
        "make bench BENCH_ARGS=\"--baseline ''\"           # without the before/after baseline (ref)",
        "```",
        "",
        "On 2 cores, with the releases already generated, expect up to about 7 minutes at 10,000 patients, "
        "10 at 100,000 and 14 at 364,627 (these three with the baseline (ref)), 16 at 1,000,000 and 50 at "
        "3,646,270 (70 to 95 minutes in all, with the machine's speed; less when (b) runs out of memory at "
        "the largest size and is not retried); `--quick` takes about 20. "
        "Generating the releases the first time adds about 20 s per million patients. Generated releases "
        "and the work files go to `data/bench/` (git-ignored); the DuckDB memory limit of a normal build "
        "is set the same way: `MIMIC_SEGMENTS_DUCKDB_MEMORY_LIMIT=8GB make release-build`.",
        "",
    ]


def figure_link(out: Path, figure: Path) -> str:
    return Path(os.path.relpath(figure, out.parent)).as_posix()


def write(results: dict[str, Any], out: Path, figure: Path, analysis_path: Path = ANALYSIS_PATH) -> None:
    plot(results, figure)
    analysis = analysis_path.read_text() if analysis_path.is_file() else ""
    out.write_text(render(results, analysis, figure_link(out, figure)))
