"""The marts digest: the demo's marts hold the values recorded in docs/marts_digest.json."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import duckdb
import pytest

from mimic_segments.reporting import marts_digest

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_the_demo_marts_hold_the_digested_values(built: dict[str, str]) -> None:
    expected = json.loads((REPO_ROOT / "docs" / "marts_digest.json").read_text())
    database = Path(built["MIMIC_SEGMENTS_DEV_DB"])
    actual = marts_digest.digest(database)
    assert marts_digest.compare(expected, actual) == []
    # the committed digest covers every mart, and its row counts are the build's, counted
    # apart from the digest code: the demo's 100 patients and 275 admissions among them
    assert set(expected) == set(marts_digest.TABLES)
    with duckdb.connect(str(database), read_only=True) as connection:
        built_rows = {
            table: connection.execute(
                f"select count(*) from {marts_digest.mart_schema(connection, table)}.{table}"
            ).fetchone()[0]
            for table in marts_digest.TABLES
        }
    assert built_rows == {table: digest["rows"] for table, digest in expected.items()}
    assert (built_rows["patient_features"], built_rows["admission_comorbidities"]) == (100, 275)


@pytest.fixture()
def small(tmp_path: Path) -> Path:
    database = tmp_path / "small.duckdb"
    with duckdb.connect(str(database)) as connection:
        connection.execute("create schema marts")
        connection.execute(
            "create table marts.t as select * from (values (1, 0.1 + 0.2, 'a'), (2, 1.0, null)) v(i, x, s)"
        )
    return database


def test_compare_names_table_and_column(small: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = marts_digest.digest(small, tables=("t",))

    def update(sql: str) -> None:
        with duckdb.connect(str(small)) as connection:
            connection.execute(sql)

    # an equivalent float (another summation order) is not a change; a changed string is
    update("update marts.t set x = 0.3 where i = 1")
    assert marts_digest.compare(before, marts_digest.digest(small, tables=("t",))) == []
    update("update marts.t set s = 'b' where i = 1")
    assert marts_digest.compare(before, marts_digest.digest(small, tables=("t",))) == ["t.s: values changed"]
    # a rename must be declared; declared, its values are still checked
    renamed = copy.deepcopy(before)
    renamed["t"]["columns"]["label"] = renamed["t"]["columns"].pop("s")
    assert marts_digest.compare(renamed, before) == [
        "t.label: missing (removed or renamed without a RENAMED entry)",
        "t.s: new column, not in the digest",
    ]
    fewer = copy.deepcopy(before)
    fewer["t"]["rows"] = 3
    assert marts_digest.compare(fewer, before) == ["t: 2 rows, expected 3"]
    monkeypatch.setattr(marts_digest, "RENAMED", {("t", "s"): "label"})
    assert marts_digest.compare(renamed, before) == []
