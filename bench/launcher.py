"""Start the benchmark's measured runs from a process of a few megabytes.

On Linux a process's ``ru_maxrss`` does not start at zero: when it executes a program, the
kernel carries over the high-water mark of the address space it replaces, which for a child of
``fork`` or ``vfork`` is its parent's. A run started by the benchmark process itself, which
holds gigabytes of feature frames after an agreement check (and keeps that high-water mark
after freeing them), therefore reported at least that peak, whatever it used.

``Launcher`` starts this module as a child process once, when the benchmark starts, before
any data is loaded. It imports nothing but ``measure`` (the standard library), reads one JSON
request per line on its standard input, runs it with ``measure.run_measured`` and answers one
JSON ``Run`` per line on its standard output. The measured programs are its children, so the
floor under their peak is this process's few megabytes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import IO, Any

from measure import MemoryCap, Run, run_measured


def _encode(value: Any) -> Any:
    """An argument of ``run_measured`` as JSON: paths as strings, the cap as its fields."""
    if isinstance(value, MemoryCap):
        return asdict(value)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    return value


# how serve() turns each JSON argument back into what run_measured takes
_DECODE: dict[str, Callable[[Any], Any]] = {
    "cwd": Path,
    "log_path": Path,
    "cap": lambda fields: MemoryCap(**fields),
    "spill_dirs": lambda paths: [Path(p) for p in paths],
}


def serve(requests: IO[str], replies: IO[str]) -> None:
    """Answer each request line with the measured run, until the requests end."""
    for line in requests:
        request = json.loads(line)
        options = {k: _DECODE.get(k, lambda v: v)(v) for k, v in request.items() if k != "command"}
        run = run_measured(request["command"], **options)
        replies.write(json.dumps(run.as_dict()) + "\n")
        replies.flush()


class Launcher:
    """``run_measured`` in a small helper process; start it before loading anything large."""

    def __init__(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, __file__],
            cwd=Path(__file__).parent,  # `measure` is imported from beside this file
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def run_measured(self, command: Sequence[str], **options: Any) -> Run:
        """``measure.run_measured(command, **options)``, run by the helper."""
        request = {"command": [str(part) for part in command], **{k: _encode(v) for k, v in options.items()}}
        assert self._process.stdin is not None and self._process.stdout is not None
        self._process.stdin.write(json.dumps(request) + "\n")
        self._process.stdin.flush()
        reply = self._process.stdout.readline()
        if not reply:
            raise RuntimeError(f"the benchmark's launcher stopped (exit code {self._process.poll()})")
        return Run(**json.loads(reply))

    def close(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()
        self._process.wait()
        if self._process.stdout is not None:
            self._process.stdout.close()

    def __enter__(self) -> Launcher:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


if __name__ == "__main__":
    serve(sys.stdin, sys.stdout)
