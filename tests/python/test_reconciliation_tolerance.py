"""The reconciliation test `column_sum_matches` (tests/generic/) tolerates float rounding at any size.

Two sums of the same doubles, added in a different order, differ in their last bits, and the
difference grows with the total: at 3.6 million generated patients the two totals of about
3.8e7 length-of-stay days differed by about 1e-6, more than the absolute tolerance. Here the
test's own SQL, rendered from its file, runs on DuckDB tables built so that the per-patient
subtotals and the row-level values sum to totals that differ by 3.8e-6 (a total of 1e10): it
passes with the default relative tolerance, fails without it, and still fails on a lost row.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import jinja2
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
TEST_FILE = REPO_ROOT / "tests" / "generic" / "column_sum_matches.sql"
LARGE = 1e10
SMALL_STAYS = [0.1] * 10


def render(**arguments: Any) -> str:
    """The generic test's SQL as dbt renders it: its `test` block read as a Jinja macro."""
    source = TEST_FILE.read_text(encoding="utf-8")
    source = source.replace("{% test ", "{% macro ", 1).replace("{% endtest %}", "{% endmacro %}")
    environment = jinja2.Environment(extensions=["jinja2.ext.do"])
    macro = environment.from_string(source).module.column_sum_matches
    return str(macro(**arguments))


@pytest.fixture
def db() -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect()
    # one patient's many short stays and one patient's long one, row by row, in this order
    connection.execute("create table admissions (length_of_stay_days double)")
    connection.executemany(
        "insert into admissions values (?)", [(LARGE,), *[(days,) for days in SMALL_STAYS]]
    )
    # the same stays summed per patient first, then over patients (another order)
    connection.execute("create table patients (total_length_of_stay_days double)")
    connection.executemany("insert into patients values (?)", [(sum(SMALL_STAYS),), (LARGE,)])
    return connection


def failing_rows(db: duckdb.DuckDBPyConnection, **tolerances: float) -> list[tuple[Any, ...]]:
    sql = render(
        model="patients",
        column_name="total_length_of_stay_days",
        compare_model="admissions",
        compare_expression="sum(length_of_stay_days)",
        **tolerances,
    )
    return db.execute(sql).fetchall()


def test_the_two_orders_give_totals_further_apart_than_the_absolute_tolerance(
    db: duckdb.DuckDBPyConnection,
) -> None:
    by_row, by_patient = db.execute(
        "select (select sum(length_of_stay_days) from admissions),"
        " (select sum(total_length_of_stay_days) from patients)"
    ).fetchone()
    assert abs(by_row - by_patient) > 1e-6
    assert abs(by_row - by_patient) / by_row < 1e-12


def test_the_relative_tolerance_passes_summation_order_rounding(db: duckdb.DuckDBPyConnection) -> None:
    assert failing_rows(db) == []


def test_without_the_relative_tolerance_the_same_totals_fail(db: duckdb.DuckDBPyConnection) -> None:
    rows = failing_rows(db, relative_tolerance=0)
    assert len(rows) == 1
    model_total, compare_total = rows[0]
    assert model_total == pytest.approx(compare_total) and model_total != compare_total


def test_a_lost_row_still_fails(db: duckdb.DuckDBPyConnection) -> None:
    """A stay missing from the patients' totals fails once it weighs more than 1e-9 of the
    total (here 10 days of 1e10; of the 3.8e7 days at 3.6M patients, an hour)."""
    db.execute("insert into admissions values (11.0)")
    assert len(failing_rows(db)) == 1
    db.execute("delete from admissions where length_of_stay_days = 11.0")
    db.execute("insert into admissions values (9.0)")
    assert failing_rows(db) == []
