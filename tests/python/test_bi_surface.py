"""What a BI reader sees: one schema of tables named by one convention, with tooltip comments.

The schema `marts` holds the tables BI reads and nothing else (docs/bi.md); the models behind
the segments are in `segmentation`. Every column of `marts` is named by the convention of
docs/naming.md, and every table and column carries a one-line comment a tooltip can hold.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pytest

pytestmark = pytest.mark.e2e

BI_SCHEMA = "marts"
TOOLTIP_MAX_CHARS = 200

# docs/naming.md, as rules on a column name's words (split on "_"), tried in this order: the
# first that matches gives the column's kind, and the kinds with a type say which.
PREFIX_KINDS = {
    "mean": "statistic",
    "median": "statistic",
    "zscore": "statistic",
    "rate": "fraction",
    "share": "fraction",
    "num": "count",
    "is": "flag",
    "has": "flag",
    "days": "days",
    "age": "age",
    "distance": "statistic",
    "top": "label",
}
FRACTION_WORDS = {"rate", "share", "probability", "incidence"}
SUFFIX_KINDS = {
    **dict.fromkeys(("id", "key"), "key"),
    **dict.fromkeys(("days", "day", "date", "at"), "days"),
    **dict.fromkeys(
        (
            "name",
            "label",
            "kind",
            "band",
            "group",
            "bucket",
            "title",
            "action",
            "description",
            "reason",
            "rule",
            "mode",
            "assumption",
            "type",
            "version",
            "status",
            "class",
            "release",
            "grouping",
        ),
        "label",
    ),
    "code": "code",
    "codes": "code",
    **dict.fromkeys(
        (
            "score",
            "points",
            "index",
            "margin",
            "ratio",
            "value",
            "mean",
            "total",
            "lift",
            "auc",
            "se",
            "lower",
            "upper",
        ),
        "statistic",
    ),
    **dict.fromkeys(("rank", "order", "priority", "number", "position"), "order"),
    **dict.fromkeys(
        ("file", "table", "sql", "json", "keys", "bytes", "sha256", "commit", "seed", "resamples"),
        "provenance",
    ),
}
ATTRIBUTES = {
    "gender",
    "race",
    "insurance",
    "category",
    "severity",
    "statistic",
    "outcome",
    "description",
    "sha256",
}
# the kinds whose values have one type
KIND_TYPES = {
    "count": {"BIGINT", "INTEGER"},
    "flag": {"BOOLEAN"},
    "fraction": {"DOUBLE"},
}


def column_kind(name: str) -> str | None:
    """The kind of a BI column's name under docs/naming.md, or None when no rule names it."""
    if name in ATTRIBUTES:
        return "attribute"
    words = name.split("_")
    if words[0] in PREFIX_KINDS and len(words) > 1:
        return PREFIX_KINDS[words[0]]
    if FRACTION_WORDS & set(words):
        return "fraction"
    return SUFFIX_KINDS.get(words[-1])


def test_the_naming_rules_classify_as_the_guide_says() -> None:
    assert column_kind("num_patients") == "count"
    assert column_kind("n_at_risk") is None
    assert column_kind("early_readmission_rate") == "fraction"
    assert column_kind("cumulative_incidence_return_lower") == "fraction"
    assert column_kind("mean_num_admissions") == "statistic"
    assert column_kind("rate_in_hospital_death") == "fraction"
    assert column_kind("is_weak_persona_match") == "flag"
    assert column_kind("follow_up_day") == "days"
    assert column_kind("segment_label") == "label"
    assert column_kind("early_readmissions") is None
    assert column_kind("passed") is None
    assert column_kind("gender") == "attribute"


@pytest.fixture(scope="module")
def manifest(built: dict[str, str]) -> dict[str, Any]:
    return json.loads((Path(built["DBT_TARGET_PATH"]) / "manifest.json").read_text())


def _bi_models(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every model dbt puts in the BI schema, enabled or not (the index-mode marts are disabled
    in a plain build but are BI tables where built)."""
    nodes = list(manifest["nodes"].values()) + [n for ns in manifest["disabled"].values() for n in ns]
    return {
        node["name"]: node
        for node in nodes
        if node["resource_type"] == "model" and node["schema"] == BI_SCHEMA
    }


def test_the_bi_schema_holds_the_bi_tables_and_nothing_else(
    db: duckdb.DuckDBPyConnection, manifest: dict[str, Any]
) -> None:
    in_database = {
        name
        for (name,) in db.execute(
            "select table_name from information_schema.tables where table_schema = ?", [BI_SCHEMA]
        ).fetchall()
    }
    enabled = {
        node["name"]
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["schema"] == BI_SCHEMA
    }
    assert in_database == enabled
    assert {"segments", "patient_segments", "outreach_list", "segment_return_curves_primary"} <= in_database
    # the models behind the segments, and every staging and intermediate model, are elsewhere
    internals = {
        "patient_features",
        "admission_comorbidities",
        "patient_clusters",
        "patient_cluster_assignments",
        "patient_nearest_centroid",
        "segment_centroids",
        "segment_personas",
        "segmentation_diagnostics",
    }
    assert not internals & in_database
    segmentation = {
        name
        for (name,) in db.execute(
            "select table_name from information_schema.tables where table_schema = 'segmentation'"
        ).fetchall()
    }
    assert internals <= segmentation
    assert all(not name.startswith(("stg_", "int_")) for name in in_database)
    # the exposures name exactly the BI tables built
    exposed = {
        parent.split(".")[-1]
        for exposure in manifest["exposures"].values()
        for parent in exposure["depends_on"]["nodes"]
    }
    assert exposed == enabled


def test_every_bi_column_follows_the_naming_convention(
    db: duckdb.DuckDBPyConnection, manifest: dict[str, Any]
) -> None:
    columns = {
        (table, column): data_type
        for table, column, data_type in db.execute(
            "select table_name, column_name, data_type from information_schema.columns where "
            "table_schema = ?",
            [BI_SCHEMA],
        ).fetchall()
    }
    # and the columns declared for a BI mart that this build leaves out (index mode's)
    for name, node in _bi_models(manifest).items():
        for column in node["columns"]:
            columns.setdefault((name, column), None)
    assert len(columns) > 250
    unnamed = sorted(f"{table}.{column}" for table, column in columns if column_kind(column) is None)
    assert unnamed == [], f"outside docs/naming.md: {unnamed}"
    mistyped = sorted(
        f"{table}.{column} ({data_type}, a {column_kind(column)})"
        for (table, column), data_type in columns.items()
        if data_type is not None and data_type not in KIND_TYPES.get(column_kind(column), {data_type})
    )
    assert mistyped == []


def test_one_concept_has_one_name(db: duckdb.DuckDBPyConnection) -> None:
    names = {
        column
        for (column,) in db.execute(
            "select distinct column_name from information_schema.columns where table_schema = ?", [BI_SCHEMA]
        ).fetchall()
    }
    assert not names & {"persona_name", "segment_label", "n_at_risk", "patients_indexed", "readmission_rate"}
    segment_tables = {
        table
        for (table,) in db.execute(
            "select table_name from information_schema.columns where table_schema = ? and "
            "column_name = 'segment_name'",
            [BI_SCHEMA],
        ).fetchall()
    }
    assert {
        "segments",
        "patient_segments",
        "outreach_list",
        "segment_return_curves",
        "segment_lace_bands",
    } <= segment_tables


def _tooltip(description: str) -> str:
    return description.strip().split("\n")[0].strip()


def test_every_bi_table_and_column_has_a_tooltip_comment(
    db: duckdb.DuckDBPyConnection, manifest: dict[str, Any]
) -> None:
    relations = dict(
        db.execute(
            "select table_name, comment from duckdb_tables() where schema_name = ?"
            " union all select view_name, comment from duckdb_views() where schema_name = ?",
            [BI_SCHEMA, BI_SCHEMA],
        ).fetchall()
    )
    columns = {
        (table, column): comment
        for table, column, comment in db.execute(
            "select table_name, column_name, comment from duckdb_columns() where schema_name = ?", [BI_SCHEMA]
        ).fetchall()
    }
    comments = {**{(t, None): c for t, c in relations.items()}, **columns}
    missing = sorted(f"{t}.{c}" for (t, c), comment in comments.items() if not comment)
    assert missing == []
    too_long = sorted(
        f"{t}.{c} ({len(comment)} characters)"
        for (t, c), comment in comments.items()
        if len(comment) > TOOLTIP_MAX_CHARS or "\n" in comment
    )
    assert too_long == []
    # each is the first line of the description the docs site shows in full
    nodes = _bi_models(manifest)
    for (table, column), comment in comments.items():
        node = nodes[table]
        if column is not None and column not in node["columns"]:
            continue  # generated from the feature catalogue (segment_profiles_wide's statistics)
        described = node["description"] if column is None else node["columns"][column]["description"]
        assert comment == _tooltip(described), (table, column)
    # the two a BI review found wrong: a definition pasted mid-sentence into the segments'
    # comment, and a segment's cluster number described as "the patient's segment"
    assert (
        comments[("segments", None)].startswith("One row per segment")
        and ": The" not in comments[("segments", None)]
    )
    assert comments[("segments", "cluster_id")].startswith("The segment's K-Means cluster number")
    # and the full descriptions stay on the docs site: longer than the tooltip where a docs
    # block holds the definition
    assert len(nodes["segment_return_curves"]["description"]) > 1000
