"""The DuckDB seed materialization and comment macro (docs block `build_cost`) build what
dbt's own would: every seed's columns in its file's order with the declared types and every
row as written, and every relation's and column's YAML description as its comment.

On the session's demo build: 11 seeds, every one typed column by column, so all take the
DuckDB materialization; a seed with an undeclared column, built in a copy of the project,
takes dbt's."""

from __future__ import annotations

import csv
import json
import shutil
from collections import Counter
from pathlib import Path

import duckdb
import pytest
from conftest import REPO_ROOT, run_dbt


def _manifest(built: dict[str, str]) -> dict:
    return json.loads((Path(built["DBT_TARGET_PATH"]) / "manifest.json").read_text())


def _seeds(manifest: dict) -> list[dict]:
    return [n for n in manifest["nodes"].values() if n["resource_type"] == "seed"]


def _typed_seeds(manifest: dict) -> list[dict]:
    """Seeds whose every column has a declared type: the ones the DuckDB materialization loads."""
    typed = []
    for node in _seeds(manifest):
        types = node["config"].get("column_types") or {}
        with open(REPO_ROOT / node["original_file_path"], newline="") as f:
            header = next(csv.reader(f))
        if types and all(name in types for name in header):
            typed.append(node)
    return typed


def test_every_seed_declares_every_column_type(built: dict[str, str]) -> None:
    """Every seed of the project declares every column's type, so none is parsed by agate's
    type inference (dbt's own seed materialization; the project overrides none)."""
    manifest = _manifest(built)
    assert {n["name"] for n in _typed_seeds(manifest)} == {n["name"] for n in _seeds(manifest)}
    # 6 MIMIC tables, the HCUP reference, 2 Charlson, 1 feature, 2 persona, 2 encounter,
    # 1 planned-readmission and 1 LACE seed, and the CCSR categories, the GEM and the body systems
    assert len(_seeds(manifest)) == 19


def test_a_seed_without_declared_types_takes_dbts_materialization(
    built: dict[str, str], tmp_path: Path
) -> None:
    """A seed with an undeclared column falls back to dbt's own materialization, which infers
    its types (here an integer from a zero-padded code, as agate does)."""
    project = tmp_path / "project"
    shutil.copytree(
        REPO_ROOT,
        project,
        ignore=shutil.ignore_patterns(
            ".venv", ".git", "data", "target", "logs", "*.duckdb*", "bench", "tests"
        ),
    )
    (project / "seeds" / "untyped_example.csv").write_text("code,label\n007,seven\n010,ten\n")
    env = {
        **built,
        "DBT_PROFILES_DIR": str(project),
        "MIMIC_SEGMENTS_DEV_DB": str(tmp_path / "untyped.duckdb"),
        "DBT_TARGET_PATH": str(tmp_path / "target"),
        "DBT_LOG_PATH": str(tmp_path / "logs"),
    }
    run_dbt(
        env,
        "seed",
        "--project-dir",
        str(project),
        "--select",
        "untyped_example",
        "hcup_chronic_condition_indicators",
    )
    run_sql = (tmp_path / "target" / "run" / "mimic_segments" / "seeds" / "untyped_example.csv").read_text()
    assert "(format csv, header true" not in run_sql
    with duckdb.connect(str(tmp_path / "untyped.duckdb"), read_only=True) as db:
        assert db.execute("select code, label from raw.untyped_example order by code").fetchall() == [
            (7, "seven"),
            (10, "ten"),
        ]
        # the typed seed beside it still takes the DuckDB materialization
        assert db.execute("select count(*) from raw.hcup_chronic_condition_indicators").fetchone()[0] > 80_000


@pytest.mark.parametrize(
    "name", ["diagnoses_icd", "d_icd_diagnoses", "hcup_chronic_condition_indicators", "patients"]
)
def test_a_typed_seed_holds_its_file_as_written(built: dict[str, str], name: str) -> None:
    """Columns in the file's order, the declared types, every row, and every text field as
    written (ICD-9 codes such as 0389 keep their leading zero); an empty field is null."""
    node = next(n for n in _seeds(_manifest(built)) if n["name"] == name)
    with open(REPO_ROOT / node["original_file_path"], newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        rows = list(reader)
    declared = node["config"]["column_types"]
    with duckdb.connect(built["MIMIC_SEGMENTS_DEV_DB"], read_only=True) as db:
        columns = db.execute(
            "select column_name, data_type from duckdb_columns()"
            " where schema_name = ? and table_name = ? order by column_index",
            [node["schema"], node["alias"]],
        ).fetchall()
        assert [c for c, _ in columns] == header
        for column, data_type in columns:
            assert data_type == db.execute(f"select typeof(cast(null as {declared[column]}))").fetchone()[0]
        assert db.execute(f'select count(*) from "{node["schema"]}"."{node["alias"]}"').fetchone()[0] == len(
            rows
        )
        assert len(rows) > 0
        for i, (column, data_type) in enumerate(columns):
            values = [
                r[0]
                for r in db.execute(f'select "{column}" from "{node["schema"]}"."{node["alias"]}"').fetchall()
            ]
            in_file = [r[i] or None for r in rows]
            if data_type == "VARCHAR":
                assert Counter(values) == Counter(in_file), column
            else:
                assert sum(v is None for v in values) == sum(v is None for v in in_file), column


def test_every_relation_carries_its_yaml_descriptions_as_comments(built: dict[str, str]) -> None:
    """Each model's description is its relation's comment and each described column's
    description its column's comment, exactly (macro duckdb__persist_docs; `persist_docs` is
    set for the models, in dbt_project.yml)."""
    manifest = _manifest(built)
    nodes = [
        n
        for n in manifest["nodes"].values()
        if n["resource_type"] in ("model", "seed") and (n["config"].get("persist_docs") or {}).get("columns")
    ]
    assert len(nodes) > 40
    wrong: list[str] = []
    checked_columns = 0
    with duckdb.connect(built["MIMIC_SEGMENTS_DEV_DB"], read_only=True) as db:
        for node in nodes:
            relation = db.execute(
                "select comment from duckdb_tables() where schema_name = ? and table_name = ?"
                " union all select comment from duckdb_views() where schema_name = ? and view_name = ?",
                [node["schema"], node["alias"]] * 2,
            ).fetchall()
            if not relation:
                continue  # not built in this mode (e.g. the diagnostics' own selection)
            if node["description"] and relation[0][0] != node["description"]:
                wrong.append(node["unique_id"])
            comments = dict(
                db.execute(
                    "select column_name, comment from duckdb_columns()"
                    " where schema_name = ? and table_name = ?",
                    [node["schema"], node["alias"]],
                ).fetchall()
            )
            for name, column in node["columns"].items():
                if name in comments and column["description"]:
                    checked_columns += 1
                    if comments[name] != column["description"]:
                        wrong.append(f"{node['unique_id']}.{name}")
    assert wrong == []
    assert checked_columns > 400
