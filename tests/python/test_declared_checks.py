"""Checks declared under `checks:` of a model's matches_declared_contract test (macro
declared_check, docs block `declared_checks`) run in that one test node, and still fail.

Each test breaks one relation of a copy of the real demo build the way a bug would (a fan-out,
a lost filter), re-runs only that model's contract test, and reads what it stored in schema
audit: the check that caught it, named as declared, how many rows it returned, and the SQL that
selects those rows, which finds exactly the rows the bug broke. A later passing run leaves the
test's audit table empty (dbt's own store_failures).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import duckdb
import jinja2
import pytest
import yaml
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


def run_contract_test(built: dict[str, str], work: Path, model: str) -> subprocess.CompletedProcess[str]:
    """`dbt test` of `model`'s contract test on the copy of the demo database in `work`."""
    env = {
        **built,
        "MIMIC_SEGMENTS_DEV_DB": str(work / Path(built["MIMIC_SEGMENTS_DEV_DB"]).name),
        "DBT_TARGET_PATH": str(work / "target"),
        "DBT_LOG_PATH": str(work / "logs"),
    }
    return dbt_result(env, "test", "--select", f"contract_{model}")


def stored_rows(database: Path, model: str) -> int:
    """How many rows `model`'s contract test stored in its audit table (dbt's store_failures)."""
    with duckdb.connect(str(database), read_only=True) as db:
        return db.execute(f"select count(*) from audit.contract_{model}").fetchone()[0]


def rows_of_check(database: Path, model: str, number: int, select: str) -> list[tuple]:
    """`select` (e.g. `subject_id`) over the rows breaking `model`'s declared check `number`,
    from the SQL the contract test stored for it, sorted."""
    with duckdb.connect(str(database), read_only=True) as db:
        (sql,) = db.execute(
            f"select failing_rows_sql from audit.contract_{model} where check_number = ?", [number]
        ).fetchone()
        return sorted(db.execute(f"select {select} from ({sql}) as breaking_rows").fetchall())


def contract_test_on_a_copy(
    built: dict[str, str], work: Path, model: str, schema: str, select_from_original: str
) -> tuple[subprocess.CompletedProcess[str], list[tuple[str, str, str, int | None]], Path]:
    """Break `model` on a copy of the demo database, run its contract test; dbt's result, the
    failing rows the test stored (column, declared, found, check number), sorted, and the copy."""
    copy = work / Path(built["MIMIC_SEGMENTS_DEV_DB"]).name
    shutil.copyfile(built["MIMIC_SEGMENTS_DEV_DB"], copy)
    replace_with(copy, schema, model, select_from_original)
    result = run_contract_test(built, work, model)
    with duckdb.connect(str(copy), read_only=True) as db:
        stored = db.execute(
            f"select column_name, declared, found, check_number from audit.contract_{model} order by 1, 2"
        ).fetchall()
    return result, stored, copy


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


def test_a_fan_out_fails_the_reconciliations_and_the_grain(built: dict[str, str], tmp_path: Path) -> None:
    # one patient's row twice, as a join that multiplies rows would leave it
    model = "int_admissions_aggregated_to_patients"
    result, stored, copy = contract_test_on_a_copy(
        built,
        tmp_path,
        model,
        "intermediate",
        "select * from original union all (select * from original order by subject_id limit 1)",
    )
    assert result.returncode == 1, result.stdout[-3000:]
    assert f"Failure in test contract_{model}" in result.stdout
    assert stored == [
        (
            "num_admissions",
            "column_sum_matches(compare_expression=count(*), compare_model=int_admissions_in_feature_window)",
            "1 failing rows",
            1,
        ),
        ("subject_id", "unique", "1 repeated rows", None),
        (
            "total_length_of_stay_days",
            "column_sum_matches(compare_expression=sum(length_of_stay_days),"
            " compare_model=int_admissions_in_feature_window)",
            "1 failing rows",
            2,
        ),
    ]
    # each broken reconciliation's row, from the SQL stored for it: the model's total is the
    # other side's plus the doubled patient's admissions (and days)
    with duckdb.connect(str(copy), read_only=True) as db:
        (doubled_admissions, doubled_days) = db.execute(
            f"select num_admissions, total_length_of_stay_days from intermediate.{model}__original"
            " order by subject_id limit 1"
        ).fetchone()
    reconciled = [rows_of_check(copy, model, number, "model_total - compare_total") for number in (1, 2)]
    assert reconciled[0] == [(doubled_admissions,)]
    assert len(reconciled[1]) == 1 and reconciled[1][0][0] == pytest.approx(doubled_days)
    # the publish step's report of this failure gives each broken check's query on one line
    (failed,) = failures.locate_failures(tmp_path / "target", copy)
    report = failed.describe()
    with duckdb.connect(str(copy), read_only=True) as db:
        stored_sql = db.execute(
            f"select failing_rows_sql from audit.contract_{model} where check_number is not null order by 1"
        ).fetchall()
    assert len(stored_sql) == 2
    for (sql,) in stored_sql:
        assert f"its rows: {failures.one_line(sql)}" in report, report
    assert "failing_rows_sql" not in report

    # mended, the test passes and its audit table is left empty
    restore(copy, "intermediate", model)
    passed = run_contract_test(built, tmp_path, model)
    assert passed.returncode == 0, passed.stdout[-3000:]
    assert stored_rows(copy, model) == 0


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
    result, stored, copy = contract_test_on_a_copy(
        built,
        tmp_path,
        model,
        "intermediate",
        "select * replace (cast(null as bigint) as return_hadm_id) from original",
    )
    assert result.returncode == 1, result.stdout[-3000:]
    assert stored == [
        (
            "",
            "expression_is_true(expression=days_to_return is null and return_admitted_at is null,"
            " where return_hadm_id is null)",
            f"{returned} failing rows",
            2,
        )
    ]
    # its rows: exactly the patients who returned, whose return lost its admission id
    with duckdb.connect(str(copy), read_only=True) as db:
        returned_patients = db.execute(
            f"select subject_id from intermediate.{model}__original"
            " where return_hadm_id is not null order by 1"
        ).fetchall()
    assert rows_of_check(copy, model, 2, "subject_id") == returned_patients


def test_a_named_check_leads_its_failure_row_with_its_name(built: dict[str, str], tmp_path: Path) -> None:
    # one more patient in the first clustered segment, as a double-counting join would leave it:
    # the named check on the clustered sizes (its column an expression with quotes) and the
    # registry reconciliation both break
    model = "segments"
    result, stored, copy = contract_test_on_a_copy(
        built,
        tmp_path,
        model,
        "marts",
        "select * replace (num_patients + case when cluster_id = 0 then 1 else 0 end as num_patients)"
        " from original",
    )
    assert result.returncode == 1, result.stdout[-3000:]
    assert stored == [
        (
            "case when segment_kind = 'clustered' then num_patients else 0 end",
            "segments_clustered_sizes_sum_to_the_clustering_population: column_sum_matches("
            "compare_expression=count(*), compare_model=int_patients_prepared_for_segmentation)",
            "1 failing rows",
            7,
        ),
        (
            "num_patients",
            "column_sum_matches(compare_expression=count(*), compare_model=stg_mimic__patients)",
            "1 failing rows",
            1,
        ),
    ]
    assert rows_of_check(copy, model, 7, "model_total - compare_total") == [(1,)]


def test_a_quoted_check_stores_a_query_that_runs_and_a_passing_run_empties_the_table(
    built: dict[str, str], tmp_path: Path
) -> None:
    """A check whose SQL holds quotes survives the trip through its text literal: the stored
    query runs and selects the broken rows."""
    model = "int_patients_followed_for_return"
    (spec,) = [
        test["matches_declared_contract"]
        for node in yaml.safe_load(
            (REPO_ROOT / "models" / "intermediate" / "_int_return_curves__models.yml").read_text()
        )["models"]
        if node["name"] == model
        for test in node["data_tests"]
        if isinstance(test, dict) and "matches_declared_contract" in test
    ]
    checks = spec["arguments"]["checks"]
    quoted = "(outcome = 'censored') = (censored_by is not null)"
    number = 1 + [check.get("expression_is_true", {}).get("expression") for check in checks].index(quoted)
    # censored follow-ups whose reason was lost, as a broken join would leave them
    result, stored, copy = contract_test_on_a_copy(
        built,
        tmp_path,
        model,
        "intermediate",
        "select * replace (cast(null as varchar) as censored_by) from original",
    )
    assert result.returncode == 1, result.stdout[-3000:]
    with duckdb.connect(str(copy), read_only=True) as db:
        censored = db.execute(
            f"select subject_id, end_of_data_assumption from intermediate.{model}__original"
            " where outcome = 'censored' order by 1, 2"
        ).fetchall()
    assert len(censored) > 0
    assert stored == [
        ("", f"expression_is_true(expression={quoted})", f"{len(censored)} failing rows", number)
    ]
    assert rows_of_check(copy, model, number, "subject_id, end_of_data_assumption") == censored
    restore(copy, "intermediate", model)
    passed = run_contract_test(built, tmp_path, model)
    assert passed.returncode == 0, passed.stdout[-3000:]
    assert stored_rows(copy, model) == 0


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


def test_every_contract_test_is_named_after_its_table() -> None:
    """`contract_<model>`: the name the audit table and dbt's log show (docs block declared_checks)."""
    named: dict[str, str] = {}
    for path in (
        sorted(REPO_ROOT.glob("models/**/*.yml"))
        + sorted(REPO_ROOT.glob("seeds/**/*.yml"))
        + sorted(REPO_ROOT.glob("python_models/**/*.yml"))
    ):
        document = yaml.safe_load(path.read_text()) or {}
        for node in document.get("models", []) + document.get("seeds", []):
            for test in node.get("data_tests", []):
                if test == "matches_declared_contract" or (
                    isinstance(test, dict) and "matches_declared_contract" in test
                ):
                    spec = test["matches_declared_contract"] if isinstance(test, dict) else {}
                    named[node["name"]] = spec.get("name", "")
    assert len(named) > 50
    assert {model: name for model, name in named.items() if name != f"contract_{model}"} == {}
    # PostgreSQL cuts identifiers at 63 bytes: two tests' audit tables must not share a name
    assert {model: name for model, name in named.items() if len(name.encode()) > 63} == {}
