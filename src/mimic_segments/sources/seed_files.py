"""Writing a seed CSV of the data step: atomically, so a failed run leaves no partial seed and a
build reading the folder meanwhile sees the old file or the new one, never half of one."""

from __future__ import annotations

import csv
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from mimic_segments.sources.demo import FILE_MODE


def write_csv_atomically(path: Path, header: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    """Write ``header`` and ``rows`` to ``path`` under a temporary name, then rename it."""
    with tempfile.NamedTemporaryFile(
        "w",
        dir=path.parent,
        prefix=f".{path.name}.",
        suffix=".tmp",
        delete=False,
        encoding="utf-8",
        newline="",
    ) as handle:
        tmp = Path(handle.name)
        try:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(header)
            writer.writerows(rows)
        except BaseException:
            handle.close()
            tmp.unlink(missing_ok=True)
            raise
    os.chmod(tmp, FILE_MODE)
    os.replace(tmp, path)
