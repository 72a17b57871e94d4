"""The feature catalogue: every patient feature, defined once.

``seeds/features/feature_catalogue.csv`` is the one definition, a row per feature of
``patient_features`` that the project profiles or clusters: its label and unit, the care-need
dimension it measures (``utilization``, ``complexity``, ``acuity``; or ``demographics`` and
``outcome``, which never name a segment), its kind (``numeric``, or ``flag`` for yes/no), whether
it is a clustering input, whether it enters the clustering through ``log1p``, whether
``segment_profiles`` summarises it, and what it holds for a patient never admitted.
``catalogue_order`` is the order of the clustering inputs.

Everything else reads it:

- dbt, at parse time, through the macro ``feature_catalogue()`` that this module writes to
  ``macros/generated/feature_catalogue.sql`` (``make data`` does it; a dbt test and a pytest
  fail, naming the feature, when the macro and the CSV disagree);
- the dbt Python models, handed the clustering part as one JSON config
  (``segmentation_settings``);
- the report (labels), the tests and the benchmark, through ``load_catalogue``.

Adding a clustering input that ``patient_features`` already has is a one-line change: set
``is_clustered`` to ``true`` on its row.

Usage::

    python -m mimic_segments.catalogue.features            # write the macro from the CSV
    python -m mimic_segments.catalogue.features --check    # exit 1 if the macro is stale
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mimic_segments import PROJECT_ROOT

REPO_ROOT = PROJECT_ROOT
CATALOGUE_CSV = REPO_ROOT / "seeds" / "features" / "feature_catalogue.csv"
MACRO_PATH = REPO_ROOT / "macros" / "generated" / "feature_catalogue.sql"

DIMENSIONS = ("utilization", "complexity", "acuity", "demographics", "outcome")
CARE_NEED_DIMENSIONS = ("utilization", "complexity", "acuity")
KINDS = ("numeric", "flag")
COLUMNS = (
    "catalogue_order",
    "feature_name",
    "label",
    "unit",
    "dimension",
    "kind",
    "is_clustered",
    "is_log1p",
    "is_profiled",
    "never_admitted_value",
)
_BOOLEANS = {"true": True, "false": False}


class CatalogueError(ValueError):
    """The catalogue CSV is malformed; the message names the row and column."""


@dataclass(frozen=True)
class Feature:
    catalogue_order: int
    feature_name: str
    label: str
    unit: str
    dimension: str
    kind: str
    is_clustered: bool
    is_log1p: bool
    is_profiled: bool
    never_admitted_value: str


def _parse_row(row: dict[str, str], line: int, path: Path) -> Feature:
    def boolean(column: str) -> bool:
        value = row[column].strip().lower()
        if value not in _BOOLEANS:
            raise CatalogueError(
                f"{path}, line {line}, column {column}: expected true or false, got {row[column]!r}"
            )
        return _BOOLEANS[value]

    for column, allowed in (("dimension", DIMENSIONS), ("kind", KINDS)):
        if row[column] not in allowed:
            raise CatalogueError(
                f"{path}, line {line}, column {column}: {row[column]!r} is not one of {allowed}"
            )
    try:
        order = int(row["catalogue_order"])
    except ValueError:
        raise CatalogueError(f"{path}, line {line}, column catalogue_order: not an integer") from None
    feature = Feature(
        catalogue_order=order,
        feature_name=row["feature_name"].strip(),
        label=row["label"].strip(),
        unit=row["unit"].strip(),
        dimension=row["dimension"],
        kind=row["kind"],
        is_clustered=boolean("is_clustered"),
        is_log1p=boolean("is_log1p"),
        is_profiled=boolean("is_profiled"),
        never_admitted_value=row["never_admitted_value"].strip(),
    )
    if not feature.feature_name.isidentifier() or feature.feature_name != feature.feature_name.lower():
        raise CatalogueError(
            f"{path}, line {line}, column feature_name: {feature.feature_name!r} is not a column name"
        )
    if feature.kind == "flag" and (feature.is_clustered or feature.is_log1p):
        raise CatalogueError(
            f"{path}, line {line}: flag {feature.feature_name!r} cannot be clustered or log1p"
        )
    return feature


def load_catalogue(path: Path = CATALOGUE_CSV) -> tuple[Feature, ...]:
    """The catalogue in ``catalogue_order``; raises ``CatalogueError`` naming what is wrong."""
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if tuple(reader.fieldnames or ()) != COLUMNS:
            raise CatalogueError(f"{path}: columns {reader.fieldnames}, expected {list(COLUMNS)}")
        features = [_parse_row(row, line, path) for line, row in enumerate(reader, start=2)]
    for attribute in ("feature_name", "catalogue_order"):
        values = [getattr(f, attribute) for f in features]
        repeated = sorted({v for v in values if values.count(v) > 1})
        if repeated:
            raise CatalogueError(f"{path}: {attribute} repeated: {repeated}")
    if not any(f.is_clustered for f in features):
        raise CatalogueError(f"{path}: no feature has is_clustered true")
    return tuple(sorted(features, key=lambda f: f.catalogue_order))


def clustered(catalogue: Sequence[Feature]) -> list[str]:
    return [f.feature_name for f in catalogue if f.is_clustered]


def log1p_clustered(catalogue: Sequence[Feature]) -> list[str]:
    return [f.feature_name for f in catalogue if f.is_clustered and f.is_log1p]


def dimensions(catalogue: Sequence[Feature]) -> dict[str, str]:
    """Feature -> care-need dimension, for the features that have one."""
    return {f.feature_name: f.dimension for f in catalogue if f.dimension in CARE_NEED_DIMENSIONS}


def labels(catalogue: Sequence[Feature]) -> dict[str, str]:
    return {f.feature_name: f.label for f in catalogue}


def render_macro(catalogue: Sequence[Feature]) -> str:
    """The dbt macro ``feature_catalogue()``: the catalogue as a list of dicts, at parse time."""
    rows = []
    for feature in catalogue:
        items = ", ".join(
            f"{json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}" for k, v in vars(feature).items()
        )
        rows.append(f"        {{{items}}},")
    return "\n".join(
        [
            "{#- GENERATED by `python -m mimic_segments.catalogue.features` (run by `make data`) from",
            "    seeds/features/feature_catalogue.csv. Edit the CSV, not this file. -#}",
            "{% macro feature_catalogue() %}",
            "    {{ return([",
            *rows,
            "    ]) }}",
            "{% endmacro %}",
            "",
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write macros/generated/feature_catalogue.sql from the CSV.")
    parser.add_argument("--check", action="store_true", help="exit 1 if the macro does not match the CSV")
    parser.add_argument("--csv", type=Path, help=f"the catalogue (default {CATALOGUE_CSV})")
    parser.add_argument("--macro", type=Path, help=f"the macro to write (default {MACRO_PATH})")
    args = parser.parse_args(argv)
    macro = args.macro or MACRO_PATH
    try:
        text = render_macro(load_catalogue(args.csv or CATALOGUE_CSV))
    except CatalogueError as error:
        print(f"feature catalogue: {error}", file=sys.stderr)
        return 2
    current = macro.read_text(encoding="utf-8") if macro.is_file() else None
    if args.check:
        if current != text:
            print(f"{macro} is stale: run `python -m mimic_segments.catalogue.features` (or `make data`)")
            return 1
        print(f"{macro} matches the catalogue")
        return 0
    if current != text:
        macro.parent.mkdir(parents=True, exist_ok=True)
        macro.write_text(text, encoding="utf-8")
        print(f"wrote {macro}")
    else:
        print(f"{macro} up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
