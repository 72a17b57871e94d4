"""The benchmark's own logic (bench/): measuring a process tree under a memory cap, classifying
a failed run, summarising runs, and rendering BENCHMARKS.md and its figure from a results dict.

No timed assertions: the processes measured here allocate known amounts of memory, and the
report is rendered from hand-built results.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "bench"))
import launcher  # noqa: E402
import measure  # noqa: E402
import report  # noqa: E402
import run_benchmark  # noqa: E402
from measure import GIB, MemoryCap, Run  # noqa: E402

CAP = 18 * GIB


# --------------------------------------------------------------------------------------------
# Measuring
# --------------------------------------------------------------------------------------------


def test_proc_stat_fields_are_counted_from_the_last_parenthesis() -> None:
    # a command name with spaces and parentheses, as /proc shows it; rss (field 24) = 2500 pages
    fields = ["S", "1", "4321", "4321", "0", "-1"] + ["0"] * 15 + ["2500"] + ["0"] * 28
    stat = measure.parse_proc_stat("1234 (my (odd) proc) " + " ".join(fields))
    assert (stat.pid, stat.ppid, stat.session, stat.rss_pages) == (1234, 1, 4321, 2500)


def test_proc_stat_of_this_process() -> None:
    stat = measure.parse_proc_stat(Path("/proc/self/stat").read_text())
    assert stat.pid == os.getpid()
    assert stat.ppid == os.getppid()
    assert stat.session == os.getsid(0)
    assert stat.rss_pages > 0


def test_default_cap_is_three_quarters_of_the_machine() -> None:
    assert measure.default_cap_bytes(24 * GIB) == 18 * GIB
    assert measure.default_cap_bytes(int(23.5 * GIB)) == 18 * GIB  # what /proc/meminfo says of 24 GB
    assert measure.default_cap_bytes(4 * GIB) == 3 * GIB


def test_the_cgroup_mode_wraps_the_command_and_the_others_do_not() -> None:
    command = ["dbt", "build"]
    wrapped = measure.capped_command(command, MemoryCap(2 * GIB, "cgroup"))
    assert wrapped[:3] == ["systemd-run", "--user", "--scope"]
    assert f"MemoryMax={2 * GIB}" in wrapped
    assert wrapped[-3:] == ["--", "dbt", "build"]
    assert measure.capped_command(command, MemoryCap(2 * GIB, "watchdog")) == command
    with pytest.raises(ValueError, match="memory cap mode"):
        measure.resolve_cap(GIB, "ulimit")


@pytest.mark.parametrize(
    ("returncode", "killed", "tail", "status"),
    [
        (0, False, "MemoryError in an old log line", "ok"),
        (-9, True, "", "oom"),
        (-9, False, "", "oom"),
        (1, False, "Traceback ...\nMemoryError: Unable to allocate 3.2 GiB for an array\n", "oom"),
        (1, False, "duckdb.duckdb.OutOfMemoryException: Out of Memory Error: could not allocate", "oom"),
        (1, False, "Runtime Error in model patient_features\nCompilation Error", "error"),
        (2, False, "", "error"),
    ],
)
def test_a_failed_run_is_classified_by_how_it_ended(
    returncode: int, killed: bool, tail: str, status: str
) -> None:
    assert measure.classify(returncode, killed, tail)[0] == status


def test_a_failed_dbt_build_names_what_failed() -> None:
    tail = (
        "12:01:02  Finished running 30 table models, 232 data tests in 0 hours 2 minutes.\n"
        "12:01:02  Failure in test column_sum_matches_patient_features_total_length_of_stay_days "
        "(models/marts/_marts__models.yml)\n"
        "12:01:02    Got 1 result, configured to fail if != 0\n"
    )
    status, detail = measure.classify(1, False, tail)
    assert status == "error"
    assert detail.startswith("exit code 1: Failure in test column_sum_matches_patient_features")


def test_a_failure_reads_as_a_result() -> None:
    assert measure.describe_failure("oom", 115.4, CAP) == "out of memory under 18 GiB after 115 s"
    assert measure.describe_failure("error", 3.0, CAP, "exit code 1") == "failed (exit code 1) after 3 s"
    duckdb_limit = (
        "_duckdb.OutOfMemoryException: Out of Memory Error: failed to allocate data of size 2.0 MiB"
    )
    assert (
        measure.describe_failure("oom", 4.2, CAP, duckdb_limit)
        == "out of memory: DuckDB's memory_limit, after 4 s"
    )


def _allocating(megabytes: int, children: int = 0, hold: float = 1.5) -> list[str]:
    """A Python command whose process (and each of ``children`` child processes) holds ``megabytes``."""
    code = (
        "import subprocess, sys, time\n"
        f"kids = [subprocess.Popen([sys.executable, '-c', sys.argv[1]]) for _ in range({children})]\n"
        f"block = b'x' * ({megabytes} << 20)\n"
        f"time.sleep({hold})\n"
        "for kid in kids: kid.wait()\n"
    )
    child = f"import time; block = b'x' * ({megabytes} << 20); time.sleep({hold})"
    return [sys.executable, "-c", code, child]


def test_the_tree_is_measured_summed_and_its_largest_process_apart(tmp_path: Path) -> None:
    run = measure.run_measured(
        _allocating(150, children=2),
        cwd=tmp_path,
        env=dict(os.environ),
        log_path=tmp_path / "run.log",
        cap=MemoryCap(8 * GIB, "watchdog"),
    )
    assert run.status == "ok", tmp_path.joinpath("run.log").read_text()
    assert run.peak_tree_rss_mb >= 3 * 150  # three processes, 150 MB each, at the same time
    # the largest single one: 150 MB plus its interpreter and copies made while allocating,
    # which vary by machine, but below the three together
    assert 150 <= run.peak_rss_mb < run.peak_tree_rss_mb
    assert run.cpu_seconds > 0


def test_runs_started_by_the_launcher_do_not_inherit_this_process_peak(tmp_path: Path) -> None:
    measured = {"cwd": tmp_path, "env": dict(os.environ), "cap": MemoryCap(8 * GIB, "watchdog")}
    command = [sys.executable, "-c", "pass"]  # about 10 MB of its own
    with launcher.Launcher() as helper:  # started before this process grows
        block = b"x" * (600 << 20)
        direct = measure.run_measured(command, log_path=tmp_path / "direct.log", **measured)
        helped = helper.run_measured(command, log_path=tmp_path / "helped.log", **measured)
        del block
    # started from here, the run reports at least this process's peak, 600 MB it never used
    assert direct.status == "ok" and direct.peak_rss_mb >= 600
    assert helped.status == "ok" and helped.peak_rss_mb < 100
    assert helped.seconds > 0 and helped.cpu_seconds > 0


def test_a_tree_over_the_cap_is_killed_and_reported_out_of_memory(tmp_path: Path) -> None:
    run = measure.run_measured(
        _allocating(200, children=1, hold=30),
        cwd=tmp_path,
        env=dict(os.environ),
        log_path=tmp_path / "run.log",
        cap=MemoryCap(300 << 20, "watchdog"),  # the two processes together pass it, neither alone
    )
    assert run.status == "oom"
    assert "cap" in run.detail
    assert run.seconds < 30  # killed, not finished


def test_duckdb_spill_past_its_memory_limit_is_measured(tmp_path: Path) -> None:
    """A sort bigger than DuckDB's memory_limit spills to its temp_directory, and the sampler sees it."""
    code = (
        "import duckdb, sys\n"
        "settings = {'memory_limit': '64MiB', 'temp_directory': sys.argv[1], 'threads': 1}\n"
        "con = duckdb.connect(config=settings)\n"
        "con.execute('select count(*) from (select md5(i::varchar) m from range(3000000) t(i) order by m)')\n"
    )
    spill = tmp_path / "duckdb.tmp"
    run = measure.run_measured(
        [sys.executable, "-c", code, str(spill)],
        cwd=tmp_path,
        env=dict(os.environ),
        log_path=tmp_path / "run.log",
        cap=MemoryCap(4 * GIB, "watchdog"),
        spill_dirs=[spill],
    )
    assert run.status == "ok", tmp_path.joinpath("run.log").read_text()
    assert run.peak_spill_mb > 32  # 3 million 32-character strings do not fit in 64 MiB


def test_spill_counts_the_disk_space_files_take(tmp_path: Path) -> None:
    (tmp_path / "spill").mkdir()
    (tmp_path / "spill" / "written.tmp").write_bytes(b"x" * (4 << 20))
    with (tmp_path / "spill" / "sparse.tmp").open("wb") as sparse:
        sparse.truncate(512 << 20)  # a size, but no blocks
    allocated = measure.allocated_bytes([tmp_path / "spill", tmp_path / "absent"])
    assert 4 << 20 <= allocated < 8 << 20


# --------------------------------------------------------------------------------------------
# The approaches and their summary
# --------------------------------------------------------------------------------------------


def test_the_production_selector_is_detected_in_selectors_yml() -> None:
    with_it = "selectors:\n  - name: production\n    definition: {method: fqn, value: '*'}\n"
    without = "selectors:\n  - name: nightly\n    definition: {method: fqn, value: '*'}\n"
    assert run_benchmark.has_selector(with_it, "production")
    assert not run_benchmark.has_selector(without, "production")
    assert not run_benchmark.has_selector(None, "production")
    assert not run_benchmark.has_selector("", "production")


def test_without_the_selector_the_production_build_is_a_labelled_stand_in() -> None:
    real = run_benchmark.production_approach(True)
    assert real.dbt_args == ("--selector", "production")
    assert "stand-in" not in real.label
    stand_in = run_benchmark.production_approach(False)
    assert stand_in.dbt_args == ("--exclude-resource-type", "unit_test")
    assert "stand-in" in stand_in.label
    keys = [a.key for a in run_benchmark.all_approaches(False)]
    assert keys == ["a_production", "a_full", "b_pandas", "c_duckdb"]


def _run(seconds: float, rss: float = 1000.0, status: str = "ok") -> Run:
    return Run(status, seconds, seconds * 1.5, rss / 2, rss, 0.0, 0.05)


def test_runs_are_summarised_by_median_and_maximum() -> None:
    summary = run_benchmark.summarise_runs([_run(10.0, 900), _run(30.0, 1200), _run(20.0, 1000)], None)
    assert summary["median_seconds"] == 20.0
    assert (summary["min_seconds"], summary["max_seconds"]) == (10.0, 30.0)
    assert summary["median_cpu_seconds"] == 30.0
    assert summary["peak_tree_rss_mb"] == 1200
    assert summary["peak_rss_mb"] == 600
    assert len(summary["runs"]) == 3


def test_an_approach_that_never_completed_has_no_medians_but_its_failure() -> None:
    failure = {"status": "oom", "seconds": 115.0, "detail": "cap", "phase": "run 1"}
    summary = run_benchmark.summarise_runs([], failure)
    assert summary["median_seconds"] is None
    assert summary["failure"] == failure
    assert run_benchmark.ratio(10.0, None) is None
    assert run_benchmark.ratio(None, 10.0) is None
    assert run_benchmark.ratio(10.0, 4.0) == 2.5


def test_the_estimate_of_the_default_benchmark_is_what_the_docs_promise() -> None:
    """docs/full_release.md and BENCHMARKS.md promise about 95 minutes for the five default sizes with the
    baseline up to 364,627 patients, and about 20 for --quick (measured 2026-12-03: 97 and 21)."""
    default = run_benchmark.estimate_seconds(
        list(run_benchmark.DEFAULT_SIZES),
        3,
        run_benchmark.MIMIC_IV_PATIENTS,
        baseline_max=run_benchmark.MIMIC_IV_PATIENTS,
    )
    assert 85 * 60 <= default <= 105 * 60
    quick = run_benchmark.estimate_seconds(
        list(run_benchmark.QUICK_SIZES), 3, run_benchmark.MIMIC_IV_PATIENTS, run_benchmark.MIMIC_IV_PATIENTS
    )
    assert 17 * 60 <= quick <= 25 * 60


# --------------------------------------------------------------------------------------------
# The report
# --------------------------------------------------------------------------------------------


def _size(patients: int, seconds: dict[str, float | None], failures: dict[str, dict] | None = None) -> dict:
    """A size's summary as run_benchmark.summarise makes it, from made-up medians."""
    outcomes = {}
    for key, median in seconds.items():
        outcome = run_benchmark.Outcome(failure=(failures or {}).get(key))
        if median is not None:
            outcome.runs = [_run(median * 0.9), _run(median), _run(median * 1.1)]
            if key.startswith("a_"):
                nodes = {"model.mimic_segments.patient_features": 1.0, "test.mimic_segments.t.abc": 0.2}
                outcome.node_seconds = [nodes] * 3
                outcome.startup_seconds = [1.0] * 3
        outcomes[key] = outcome
    rows = {
        "hosp/admissions": patients * 3 // 2,
        "hosp/diagnoses_icd": patients * 17,
        "icu/icustays": patients // 4,
    }
    size = run_benchmark.Size(patients, Path("release"), Path("work"), rows, None)
    return run_benchmark.summarise(size, outcomes, {}, warm_up=patients <= 364_627)


OOM = {
    "status": "oom",
    "seconds": 115.2,
    "detail": "the process tree's resident memory passed the cap",
    "phase": "run 1",
}


def _results(selector_defined: bool = True, runs: int = 3) -> dict:
    approaches = run_benchmark.all_approaches(selector_defined)
    return {
        "date": "2026-12-03",
        "commit": "abc1234",
        "runs": runs,
        "machine": {"cores": "2", "memory": "23.5 GiB"},
        "memory": {
            "cap_bytes": CAP,
            "cap_mode": "watchdog",
            "cap_description": MemoryCap(CAP, "watchdog").describe(),
            "duckdb_memory_limit": "9216MiB",
            "duckdb_memory_limit_bytes": 9 * GIB,
        },
        "production": {
            "selector_defined": selector_defined,
            "label": approaches[0].label,
            "dbt_args": list(approaches[0].dbt_args),
        },
        "warm_up_max": 364_627,
        "labels": {a.key: a.label for a in approaches},
        "sizes": [
            _size(10_000, {"a_production": 7.0, "a_full": 16.0, "b_pandas": 1.9, "c_duckdb": 1.9}),
            _size(364_627, {"a_production": 18.0, "a_full": 25.0, "b_pandas": 20.0, "c_duckdb": 8.0}),
            # (a) 100 s for ten times the patients of 18 s: 0.56 s per 10k patients against 0.49
            _size(
                3_646_270,
                {"a_production": 100.0, "a_full": 150.0, "b_pandas": None, "c_duckdb": 90.0},
                {"b_pandas": OOM},
            ),
        ],
    }


def _target(results: dict, starts: str) -> tuple[str, str, str]:
    return next(row for row in report.target_rows(results) if row[0].startswith(starts))


def test_targets_are_judged_from_the_medians() -> None:
    results = _results()
    assert _target(results, "N = 364,627: (a) no slower than (b)")[1:] == ("a/b = 0.90", "yes")
    assert _target(results, "N = 364,627: (a) at most 2.0x (c)")[1:] == ("a/c = 2.25", "**no**")
    assert _target(results, "N = 10,000: (a) at most half of the full build's 16.6 s")[1:] == ("7.0 s", "yes")
    assert _target(results, "N = 10,000: (a) at most half of (a-full)")[1:] == ("a/a-full = 0.44", "yes")
    growth = (100.0 / 3_646_270) / (18.0 / 364_627)
    assert _target(results, "time per patient")[1:] == (f"{growth:.2f}x", "yes")
    name, measured, met = _target(results, "N = 3,646,270: (a) completes under the 18 GiB cap")
    assert "9216MiB" in name
    assert met == "yes"
    assert "within the memory_limit" in measured  # 1000 MB of made-up peak


def test_targets_of_sizes_not_run_say_so() -> None:
    results = _results()
    results["sizes"] = results["sizes"][:1]
    rows = report.target_rows(results)
    assert [met for _, _, met in rows] == ["-", "-", "yes", "yes", "-", "-"]
    assert all("not measured" in measured for _, measured, met in rows if met == "-")


def test_the_page_reports_an_out_of_memory_run_as_a_result() -> None:
    page = report.render(_results(), "### Analysis\n\nhand-written", "bench/cost_curve.png")
    line = next(line for line in page.splitlines() if line.startswith("| 3,646,270 | 5,469,405 |"))
    assert "**out of memory under 18 GiB after 115 s (run 1)**" in line
    assert "| 100.0 s [90.0-110.0] |" in line
    assert line.endswith("| - | 1.11 | - | 1.67 |")  # a/b, a/c, a-full/b, a-full/c
    assert "![Wall time and peak memory against N" in page
    assert "(bench/cost_curve.png)" in page
    assert "hand-written" in page
    # time per patient against 364,627's: (a) 100 s for 10x the patients of 18 s
    assert "| 3,646,270 | 0.56 | 0.60 | - | 1.12 |" in page
    assert "Only 3" not in page
    assert "stand-in" not in page


def test_the_page_says_how_the_runs_were_started() -> None:
    helped = {**_results(), "launcher": True}
    assert "started by a helper process" in report.render(helped)
    # results written before the launcher existed carry the parent's peak: the page says so
    assert "started by the benchmark process itself" in report.render(_results())


def test_the_page_labels_the_stand_in_and_too_few_runs() -> None:
    page = report.render(_results(selector_defined=False, runs=1))
    assert "no `production` selector" in page
    assert "`dbt build --exclude-resource-type unit_test`" in page
    assert "Only 1 run(s) per approach" in page


def test_the_figure_is_a_png_beside_the_page(tmp_path: Path) -> None:
    out = tmp_path / "BENCHMARKS.md"
    figure = tmp_path / "bench" / "cost_curve.png"
    report.write(_results(), out, figure, analysis_path=tmp_path / "absent.md")
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "](bench/cost_curve.png)" in out.read_text()


def _with_baseline(results: dict, seconds: dict[int, float]) -> dict:
    """``results`` where the baseline (ref) ran beside the others at the sizes of ``seconds``."""
    results["baseline"] = {"commit": "3db7dd0", "max_patients": max(seconds)}
    results["labels"][run_benchmark.BASELINE_KEY] = "(ref) full build at 3db7dd0"
    for index, size in enumerate(results["sizes"]):
        if size["patients"] in seconds:
            medians = {key: a["median_seconds"] for key, a in size["approaches"].items()}
            medians[run_benchmark.BASELINE_KEY] = seconds[size["patients"]]
            failures = {key: a["failure"] for key, a in size["approaches"].items() if a["failure"]}
            results["sizes"][index] = _size(size["patients"], medians, failures)
    return results


def test_the_small_target_is_judged_against_the_baseline_timed_side_by_side() -> None:
    # (a) 7.0 s: under half of 16.6 s, but not under half of the baseline's 13.0 s of the same day
    results = _with_baseline(_results(), {10_000: 13.0, 364_627: 40.0})
    name, measured, met = _target(results, "N = 10,000: (a) at most half of the baseline full build")
    assert "3db7dd0" in name and "side by side" in name
    assert (measured, met) == ("a/ref = 0.54 (7.0 s against 13.0 s)", "**no**")
    assert not any(
        row[0].startswith("N = 10,000: (a) at most half of the full build's")
        for row in report.target_rows(results)
    )
    page = report.render(results)
    assert "| 364,627 | 40.0 s [36.0-44.0] | 18.0 s [16.2-19.8] | 25.0 s [22.5-27.5] | 0.45 | 0.62 |" in page
    assert "3,646,270 | -" not in page  # the table lists only the sizes the baseline ran at


def test_ratios_skip_an_approach_not_run_at_that_size() -> None:
    ratios = _size(10_000, {"a_production": 7.0, "a_full": 16.0, "b_pandas": 1.9, "c_duckdb": 1.9})["ratios"]
    assert f"a_production/{run_benchmark.BASELINE_KEY}" not in ratios
    assert ratios["a_production/a_full"] == pytest.approx(7.0 / 16.0)


def test_a_baseline_commit_this_clone_lacks_is_skipped(tmp_path: Path) -> None:
    assert run_benchmark.prepare_baseline("0" * 40, tmp_path) is None
    assert not any(tmp_path.iterdir())


def test_the_baseline_runs_its_own_project_on_its_own_package(tmp_path: Path) -> None:
    baseline = run_benchmark.Approach(
        run_benchmark.BASELINE_KEY,
        "(ref) full build at 3db7dd0",
        project_dir=tmp_path / "baseline-3db7dd0",
        compared=False,
    )
    size = run_benchmark.Size(10_000, tmp_path / "release", tmp_path / "work", {}, None)
    settings = run_benchmark.Settings(MemoryCap(CAP, "watchdog"), "9216MiB")
    env = size.env(baseline, settings)
    assert env["DBT_PROFILES_DIR"] == str(tmp_path / "baseline-3db7dd0")
    assert env["PYTHONPATH"] == str(tmp_path / "baseline-3db7dd0" / "src")
    assert baseline.cwd == tmp_path / "baseline-3db7dd0"
    assert run_benchmark.baseline_commit(baseline) == "3db7dd0"
    assert size.command(baseline)[1:3] == ["build", "--vars"]  # the full build: no selection
    this = run_benchmark.all_approaches(True)[0]
    assert "PYTHONPATH" not in size.env(this, settings) or size.env(this, settings)[
        "PYTHONPATH"
    ] == os.environ.get("PYTHONPATH")
    assert this.cwd == run_benchmark.REPO_ROOT


def test_the_command_line_help_renders(capsys: pytest.CaptureFixture[str]) -> None:
    # argparse %-formats every help string: a stray percent sign crashes `--help`
    with pytest.raises(SystemExit) as stopped:
        run_benchmark.main(["--help"])
    assert stopped.value.code == 0
    shown = capsys.readouterr().out
    assert "--duckdb-memory-limit-gb" in shown
    assert f"{run_benchmark.DUCKDB_SHARE_OF_CAP:.0%} of the cap" in " ".join(shown.split())
