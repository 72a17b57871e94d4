"""One measured process for the benchmark: wall, CPU, memory and spill, under a memory cap.

Each approach runs in a process of its own session (``start_new_session``), so that the
process and everything it starts form one tree that the benchmark can measure and, when it
outgrows the cap, kill as a whole. While it runs, a sampler thread reads every
``SAMPLE_SECONDS``:

- the resident memory of every process of the session (``/proc/<pid>/stat``), summed: the
  tree's peak RSS (sampled; pages shared between processes count once per process);
- the allocated size of the given spill directories (DuckDB's ``temp_directory``): the
  high-water mark of its spill to disk.

``wait4`` gives the rest: CPU time (user + system of the process and of the children it
waited for) and the peak RSS of the single largest process (``ru_maxrss``; ``launcher`` says
why the benchmark starts runs from a small helper process).

The memory cap, in order of preference:

- ``cgroup``: ``systemd-run --user --scope -p MemoryMax=...``, the kernel's own per-tree limit,
  where a systemd user manager exists (it does not on the benchmark machine of 2026-12: no
  systemd, and the cgroup v1 memory hierarchy belongs to the sandbox);
- ``watchdog``: the sampler kills the session (SIGKILL) when its summed RSS passes the cap.
  A spike shorter than the sampling interval can pass unseen; the cap is a share of the
  machine that leaves room for that;
- ``rlimit-as``: ``RLIMIT_AS`` on each process (what ``prlimit --as`` sets). Per process, not
  per tree, and it counts reserved virtual memory (allocator arenas, thread stacks), which for
  DuckDB and a JVM is far more than what they use: available, not the default.

``auto`` takes the cgroup when ``systemd-run`` can create a scope, else the watchdog. A run
the cap stops, or that fails for want of memory by itself (Python's ``MemoryError``, DuckDB's
"Out of Memory Error", the kernel's OOM killer), is classified ``oom``: a result to report,
not an error.
"""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

SAMPLE_SECONDS = 0.2
GIB = 1 << 30
CAP_SHARE = 0.75  # of the machine's memory: 18 GiB of 24, leaving room for the OS and a spike
CAP_MODES = ("auto", "cgroup", "watchdog", "rlimit-as")

# What a process prints when it fails for want of memory (Python, DuckDB, C++, glibc, a JVM).
OOM_MARKERS = (
    "MemoryError",
    "Out of Memory Error",
    "std::bad_alloc",
    "Cannot allocate memory",
    "java.lang.OutOfMemoryError",
)

ERROR_MARKERS = ("Failure in ", "Error in ")


@dataclass(frozen=True)
class Run:
    """One measured process. Memory in MiB; ``status`` is ``ok``, ``oom`` or ``error``."""

    status: str
    seconds: float  # wall
    cpu_seconds: float  # user + system, the process and its waited-for children
    peak_rss_mb: float  # the largest single process (wait4's ru_maxrss)
    peak_tree_rss_mb: float  # the process tree, summed, sampled
    peak_spill_mb: float  # the spill directories' allocated size, sampled
    busy_before: float  # share of the machine's CPU busy just before the run (other load)
    detail: str = ""  # why it failed, for oom and error

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class MemoryCap:
    """The per-process-tree memory cap and how it is enforced (``mode`` resolved, not ``auto``)."""

    bytes: int
    mode: str

    @property
    def gib(self) -> float:
        return self.bytes / GIB

    def describe(self) -> str:
        how = {
            "cgroup": "a cgroup (systemd-run scope, MemoryMax)",
            "watchdog": f"a watchdog that kills the process tree when its summed RSS (sampled every "
            f"{SAMPLE_SECONDS:g} s) passes it",
            "rlimit-as": "RLIMIT_AS on each process (virtual memory)",
        }[self.mode]
        return f"{format_gib(self.bytes)} GiB, enforced by {how}"


def format_gib(n_bytes: float) -> str:
    """``18`` for 18 GiB, ``0.5`` for half of one: the cap as people write it."""
    return f"{n_bytes / GIB:.3g}"


def machine_memory_bytes(meminfo: Path = Path("/proc/meminfo")) -> int | None:
    if not meminfo.is_file():
        return None
    for line in meminfo.read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    return None


def default_cap_bytes(total_bytes: int) -> int:
    """A safe share of the machine, in whole GiB: three quarters (18 GiB of a 24 GB machine)."""
    return max(1, round(total_bytes * CAP_SHARE / GIB)) * GIB


def cgroup_available(probe: Callable[..., Any] = subprocess.run) -> bool:
    """Whether ``systemd-run --user --scope`` can put a command under a memory limit here."""
    if shutil.which("systemd-run") is None:
        return False
    try:
        done = probe(
            ["systemd-run", "--user", "--scope", "--quiet", "-p", "MemoryMax=1G", "true"],
            capture_output=True,
            timeout=20,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def resolve_cap(n_bytes: int, mode: str) -> MemoryCap:
    if mode not in CAP_MODES:
        raise ValueError(f"memory cap mode {mode!r}: one of {', '.join(CAP_MODES)}")
    if mode == "auto":
        mode = "cgroup" if cgroup_available() else "watchdog"
    return MemoryCap(n_bytes, mode)


def capped_command(command: Sequence[str], cap: MemoryCap) -> list[str]:
    """``command`` under the cgroup limit when that is the mode; as it is otherwise."""
    if cap.mode != "cgroup":
        return list(command)
    return [
        "systemd-run",
        "--user",
        "--scope",
        "--quiet",
        "-p",
        f"MemoryMax={cap.bytes}",
        "-p",
        "MemorySwapMax=0",
        "--",
        *command,
    ]


# --------------------------------------------------------------------------------------------
# The process tree, from /proc
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProcStat:
    pid: int
    ppid: int
    session: int
    rss_pages: int


def parse_proc_stat(text: str) -> ProcStat:
    """The fields of ``/proc/<pid>/stat`` the sampler needs.

    The second field is the command name in parentheses, which may itself hold spaces and
    parentheses: the fields after it are counted from the last ``)``.
    """
    pid = int(text[: text.index(" ")])
    rest = text[text.rindex(")") + 2 :].split()
    # rest[0] is field 3 (state): field n is rest[n - 3]
    return ProcStat(pid=pid, ppid=int(rest[1]), session=int(rest[3]), rss_pages=int(rest[21]))


def session_rss_bytes(session: int, proc: Path = Path("/proc")) -> int:
    """Resident memory of every process in ``session``, summed."""
    page = os.sysconf("SC_PAGE_SIZE")
    total = 0
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = parse_proc_stat((entry / "stat").read_text())
        except (OSError, ValueError, IndexError):
            continue  # the process ended while we looked
        if stat.session == session:
            total += stat.rss_pages * page
    return total


def allocated_bytes(directories: Iterable[Path]) -> int:
    """Disk space the files under ``directories`` take (allocated blocks: temp files are sparse)."""
    total = 0
    for directory in directories:
        for root, _, files in os.walk(directory):
            for name in files:
                with contextlib.suppress(OSError):
                    total += os.stat(os.path.join(root, name)).st_blocks * 512
    return total


class Sampler(threading.Thread):
    """Samples a session's summed RSS and the spill directories; kills the session over the cap."""

    def __init__(self, session: int, kill_above: int | None, spill_dirs: Sequence[Path]) -> None:
        super().__init__(daemon=True)
        self.session = session
        self.kill_above = kill_above
        self.spill_dirs = list(spill_dirs)
        self.peak_rss = 0
        self.peak_spill = 0
        self.killed_at: float | None = None  # seconds after start, when the watchdog killed it
        self._stop_event = threading.Event()
        self._began = time.perf_counter()

    def sample(self) -> None:
        rss = session_rss_bytes(self.session)
        self.peak_rss = max(self.peak_rss, rss)
        self.peak_spill = max(self.peak_spill, allocated_bytes(self.spill_dirs))
        if self.kill_above is not None and rss > self.kill_above and self.killed_at is None:
            self.killed_at = time.perf_counter() - self._began
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.session, signal.SIGKILL)

    def run(self) -> None:
        while not self._stop_event.wait(SAMPLE_SECONDS):
            self.sample()

    def stop(self) -> None:
        self._stop_event.set()
        self.join()


# --------------------------------------------------------------------------------------------
# Classifying a failed run
# --------------------------------------------------------------------------------------------


def classify(returncode: int, killed_by_watchdog: bool, log_tail: str) -> tuple[str, str]:
    """``(status, detail)`` of a finished run: ``ok``, ``oom`` (a result) or ``error`` (a bug)."""
    if returncode == 0:
        return "ok", ""
    if killed_by_watchdog:
        return "oom", "the process tree's resident memory passed the cap"
    if returncode == -signal.SIGKILL:
        return "oom", "killed by SIGKILL (the kernel's or the cgroup's out-of-memory killer)"
    lines = log_tail.splitlines()
    for line in reversed(lines):
        if any(marker in line for marker in OOM_MARKERS):
            return "oom", line.strip()[:300]
    # dbt names what failed ("Failure in test ...", "Runtime Error in model ...")
    named = [line[line.index(word) :].strip() for line in lines for word in ERROR_MARKERS if word in line]
    return "error", f"exit code {returncode}" + (f": {named[0][:300]}" if named else "")


def describe_failure(status: str, seconds: float, cap_bytes: int, detail: str = "") -> str:
    """How a failed run reads in the report: a result, with the cap and when it happened."""
    if status == "oom" and "Out of Memory Error" in detail:
        return f"out of memory: DuckDB's memory_limit, after {seconds:.0f} s"
    if status == "oom":
        return f"out of memory under {format_gib(cap_bytes)} GiB after {seconds:.0f} s"
    return f"failed ({detail or 'error'}) after {seconds:.0f} s"


# --------------------------------------------------------------------------------------------
# Running one process
# --------------------------------------------------------------------------------------------


def _rlimit_as(n_bytes: int) -> Callable[[], None]:
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (n_bytes, n_bytes))

    return apply


def run_measured(
    command: Sequence[str],
    *,
    cwd: Path,
    env: dict[str, str],
    log_path: Path,
    cap: MemoryCap,
    spill_dirs: Sequence[Path] = (),
    busy_before: float = 0.0,
) -> Run:
    """Run ``command`` to its end under ``cap`` and measure it; never raises for its failure."""
    for directory in spill_dirs:
        shutil.rmtree(directory, ignore_errors=True)
    with log_path.open("w") as output:
        started = time.perf_counter()
        process = subprocess.Popen(
            capped_command(command, cap),
            cwd=cwd,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_rlimit_as(cap.bytes) if cap.mode == "rlimit-as" else None,
        )
        sampler = Sampler(process.pid, cap.bytes if cap.mode == "watchdog" else None, spill_dirs)
        try:
            sampler.start()
            _, wait_status, usage = os.wait4(process.pid, 0)
            seconds = time.perf_counter() - started
            sampler.stop()
        finally:
            # whatever the process left behind in its session goes with it (also when the
            # benchmark itself is interrupted)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)
    process.returncode = os.waitstatus_to_exitcode(wait_status)
    tail = log_path.read_text(errors="replace")[-20_000:]
    status, detail = classify(process.returncode, sampler.killed_at is not None, tail)
    return Run(
        status=status,
        seconds=seconds,
        cpu_seconds=usage.ru_utime + usage.ru_stime,
        peak_rss_mb=usage.ru_maxrss / 1024.0,  # KiB on Linux
        # a peak between two samples can escape the sum; never below the largest process's own
        peak_tree_rss_mb=max(sampler.peak_rss / 2**20, usage.ru_maxrss / 1024.0),
        peak_spill_mb=sampler.peak_spill / 2**20,
        busy_before=busy_before,
        detail=detail,
    )
