"""Each check is a dbt test of its own, fails on its own, and keeps its failing rows.

Each test breaks one relation of a copy of the real demo build the way a bug would (a fan-out,
a lost filter), re-runs that model's tests, and reads what dbt's store_failures kept in
schema audit: exactly the tests that should fail do, each with its model and column, its
failing rows (with their keys) in its own audit relation, and the publish step's report of
the failure; a later passing run leaves that relation empty.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import duckdb
import jinja2
import pytest
from conftest import REPO_ROOT, dbt_result

from mimic_segments.publishing import failures

pytestmark = pytest.mark.e2e


def replace_with(database: Path, schema: str, name: str, select_from_original: str) -> None:
    """Put `select_from_original` (over `original`) in place of schema.name, table or view."""
    with duckdb.connect(str(database)) as db:
        (kind,) = db.execute(
            "select table_type from information_schema.tables where table_schema = ? and table_name = ?",
            [schema, name],
        ).fetchone()
        relation = "view" if kind == "VIEW" else "table"
        db.execute(f"alter {relation} {schema}.{name} rename to {name}__original")
        db.execute(
            f"create table {schema}.{name} as "
            + select_from_original.replace("original", f"{schema}.{name}__original")
        )


def restore(database: Path, schema: str, name: str) -> None:
    """Undo replace_with: the original relation back under its name."""
    with duckdb.connect(str(database)) as db:
        (kind,) = db.execute(
            "select table_type from information_schema.tables where table_schema = ? and table_name = ?",
            [schema, f"{name}__original"],
        ).fetchone()
        db.execute(f"drop table {schema}.{name}")
        relation = "view" if kind == "VIEW" else "table"
        db.execute(f"alter {relation} {schema}.{name}__original rename to {name}")


def run_tests_of(built: dict[str, str], work: Path, model: str) -> subprocess.CompletedProcess[str]:
    """`dbt test` of `model`'s own tests on the copy of the demo database in `work`."""
    env = {
        **built,
        "MIMIC_SEGMENTS_DEV_DB": str(work / Path(built["MIMIC_SEGMENTS_DEV_DB"]).name),
        "DBT_TARGET_PATH": str(work / "target"),
        "DBT_LOG_PATH": str(work / "logs"),
    }
    # every test that reads the model (dbt's eager selection: also those comparing with another
    # relation); a test of a model downstream may fail too, and is told apart by failed_tests
    return dbt_result(env, "test", "--select", model, "--exclude", "test_type:unit test_type:singular")


def failed_tests(work: Path, model: str) -> dict[tuple[str, str | None], dict]:
    """The failed tests of `model` in the last dbt run in `work`: (generic test or name,
    column) -> its node and result."""
    results = json.loads((work / "target" / "run_results.json").read_text())
    nodes = json.loads((work / "target" / "manifest.json").read_text())["nodes"]
    failed = {}
    for result in results["results"]:
        if result["status"] != "fail":
            continue
        node = nodes[result["unique_id"]]
        if node.get("attached_node", "").split(".")[-1] != model:
            continue
        metadata = node.get("test_metadata") or {}
        named = node["name"] if not node["name"].startswith(metadata.get("name", "")) else metadata["name"]
        failed[(named, failures.tested_column(node))] = {**node, "failures": result["failures"]}
    return failed


def broken_and_tested(
    built: dict[str, str], work: Path, model: str, schema: str, select_from_original: str
) -> tuple[subprocess.CompletedProcess[str], dict[tuple[str, str | None], dict], Path]:
    """Break `model` on a copy of the demo database, run its tests; dbt's result, the failed
    tests, and the copy."""
    copy = work / Path(built["MIMIC_SEGMENTS_DEV_DB"]).name
    shutil.copyfile(built["MIMIC_SEGMENTS_DEV_DB"], copy)
    replace_with(copy, schema, model, select_from_original)
    result = run_tests_of(built, work, model)
    return result, failed_tests(work, model), copy


def stored(database: Path, relation: str, columns: str = "*") -> list[tuple]:
    with duckdb.connect(str(database), read_only=True) as db:
        return db.execute(f"select {columns} from {relation} order by all").fetchall()


def test_a_fan_out_fails_the_reconciliations_and_the_grain(built: dict[str, str], tmp_path: Path) -> None:
    # one patient's row twice, as a join that multiplies rows would leave it
    model = "int_admissions_aggregated_to_patients"
    result, failed, copy = broken_and_tested(
        built,
        tmp_path,
        model,
        "intermediate",
        "select * from original union all (select * from original order by subject_id limit 1)",
    )
    assert result.returncode == 1, result.stdout[-3000:]
    assert sorted(failed) == [
        ("column_sum_matches", "num_admissions"),
        ("column_sum_matches", "total_length_of_stay_days"),
        ("unique", "subject_id"),
    ]
    # each broken reconciliation's own row: the model's total is the other side's plus the
    # doubled patient's admissions (and days); the grain test keeps the repeated key
    with duckdb.connect(str(copy), read_only=True) as db:
        (patient, doubled_admissions, doubled_days) = db.execute(
            "select subject_id, num_admissions, total_length_of_stay_days"
            f" from intermediate.{model}__original order by subject_id limit 1"
        ).fetchone()
    admissions = failed[("column_sum_matches", "num_admissions")]
    days = failed[("column_sum_matches", "total_length_of_stay_days")]
    assert stored(copy, admissions["relation_name"], "model_total - compare_total") == [(doubled_admissions,)]
    ((difference,),) = stored(copy, days["relation_name"], "model_total - compare_total")
    assert difference == pytest.approx(doubled_days)
    assert stored(copy, failed[("unique", "subject_id")]["relation_name"], "unique_field") == [(patient,)]
    # the publish step's report of these failures: each test with its model, column and rows
    located = {
        node.name: node for node in failures.locate_failures(tmp_path / "target", copy) if node.model == model
    }
    assert len(located) == 3
    for node in failed.values():
        report = located[node["name"]].describe()
        column = failures.tested_column(node)
        assert f"    model:  {model}" in report and f"    column: {column}" in report, report
        assert f"all failing rows: select * from {node['relation_name']}" in report
        assert "first failing rows (1 shown)" in report, report
    assert f"unique_field={patient}" in located[failed[("unique", "subject_id")]["name"]].describe()

    # mended, the tests pass and their audit relations hold no row
    restore(copy, "intermediate", model)
    passed = run_tests_of(built, tmp_path, model)
    assert passed.returncode == 0, passed.stdout[-3000:]
    for node in failed.values():
        assert stored(copy, node["relation_name"]) == []


def test_a_check_with_where_reads_only_its_rows(
    built: dict[str, str], db: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    # On the demo some indexed patients returned: their days_to_return is set, so the check
    # "no return, no days" passed in the session's build only because its `where:
    # return_hadm_id is null` was applied.
    (returned,) = db.execute(
        "select count(*) from intermediate.int_patients_indexed_for_return where return_hadm_id is not null"
    ).fetchone()
    assert returned > 0
    # the returns' admission ids lost, as a broken join would leave them
    model = "int_patients_indexed_for_return"
    result, failed, copy = broken_and_tested(
        built,
        tmp_path,
        model,
        "intermediate",
        "select * replace (cast(null as bigint) as return_hadm_id) from original",
    )
    assert result.returncode == 1, result.stdout[-3000:]
    assert list(failed) == [("expression_is_true", None)]
    (check,) = failed.values()
    # dbt takes a test's `where` as its config: the model's rows are filtered before the check
    assert check["config"]["where"] == "return_hadm_id is null"
    assert check["failures"] == returned
    # its rows: exactly the patients who returned, whose return lost its admission id
    with duckdb.connect(str(copy), read_only=True) as con:
        returned_patients = con.execute(
            f"select subject_id from intermediate.{model}__original"
            " where return_hadm_id is not null order by 1"
        ).fetchall()
    assert stored(copy, check["relation_name"], "subject_id") == returned_patients


def test_a_named_check_fails_under_its_name(built: dict[str, str], tmp_path: Path) -> None:
    # one more patient in the first clustered segment, as a double-counting join would leave it:
    # the named check on the clustered sizes (its column an expression with quotes) and the
    # registry reconciliation both break
    model = "segments"
    result, failed, copy = broken_and_tested(
        built,
        tmp_path,
        model,
        "marts",
        "select * replace (num_patients + case when cluster_id = 0 then 1 else 0 end as num_patients)"
        " from original",
    )
    assert result.returncode == 1, result.stdout[-3000:]
    assert sorted(failed) == [
        ("column_sum_matches", "num_patients"),
        (
            "segments_clustered_sizes_sum_to_the_clustering_population",
            "case when segment_kind = 'clustered' then num_patients else 0 end",
        ),
    ]
    assert "Failure in test segments_clustered_sizes_sum_to_the_clustering_population" in result.stdout
    named = failed[
        (
            "segments_clustered_sizes_sum_to_the_clustering_population",
            "case when segment_kind = 'clustered' then num_patients else 0 end",
        )
    ]
    assert stored(copy, named["relation_name"], "model_total - compare_total") == [(1,)]


def test_a_quoted_check_keeps_its_rows_and_a_passing_run_empties_them(
    built: dict[str, str], tmp_path: Path
) -> None:
    """A check whose SQL holds quotes keeps its failing rows, keys and all."""
    model = "int_patients_followed_for_return"
    quoted = "(outcome = 'censored') = (censored_by is not null)"
    # censored follow-ups whose reason was lost, as a broken join would leave them
    result, failed, copy = broken_and_tested(
        built,
        tmp_path,
        model,
        "intermediate",
        "select * replace (cast(null as varchar) as censored_by) from original",
    )
    assert result.returncode == 1, result.stdout[-3000:]
    assert list(failed) == [("expression_is_true", None)]
    (check,) = failed.values()
    assert check["test_metadata"]["kwargs"]["expression"] == quoted
    with duckdb.connect(str(copy), read_only=True) as db:
        censored = db.execute(
            f"select subject_id, end_of_data_assumption from intermediate.{model}__original"
            " where outcome = 'censored' order by 1, 2"
        ).fetchall()
    assert len(censored) > 0
    assert stored(copy, check["relation_name"], "subject_id, end_of_data_assumption") == censored
    restore(copy, "intermediate", model)
    passed = run_tests_of(built, tmp_path, model)
    assert passed.returncode == 0, passed.stdout[-3000:]
    assert stored(copy, check["relation_name"]) == []


def test_text_literals_read_back_as_the_text_on_every_engine() -> None:
    """macro text_literal: standard SQL doubles quotes; Spark escapes with a backslash, since it
    reads '' as two adjacent literals. spark_seed_literal quotes seed values the same way."""

    class Returned(Exception):
        pass

    def return_(value: object) -> None:
        raise Returned(value)

    source = "".join(
        (REPO_ROOT / "macros" / name).read_text(encoding="utf-8")
        for name in ("text_literal.sql", "engine_data_type.sql")
    )
    module = (
        jinja2.Environment(extensions=["jinja2.ext.do"])
        .from_string(source, globals={"return": return_})
        .module
    )

    def returned(macro: str, value: object) -> object:
        with pytest.raises(Returned) as raised:
            getattr(module, macro)(value)
        return raised.value.args[0]

    text = "where a = 'it''s' and b like '%\\_%'"  # where a = 'it''s' and b like '%\_%'
    assert returned("default__text_literal", text) == "'" + text.replace("'", "''") + "'"
    assert returned("spark__text_literal", text) == "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
    # read back as each engine reads it
    with duckdb.connect() as db:
        assert db.execute("select " + str(returned("default__text_literal", text))).fetchone() == (text,)
    spark_read = re.sub(r"\\(.)", r"\1", str(returned("spark__text_literal", text))[1:-1])
    assert spark_read == text
    # a seed's text value is that literal (here the inner macro's return stops the render, as
    # dbt's would hand its value to the caller), its NULL stays a NULL
    assert returned("spark_seed_literal", text) == returned("spark__text_literal", text)
    assert str(module.spark_seed_literal(None)).strip() == "null"
