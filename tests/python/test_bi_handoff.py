"""The BI hand-off, as a BI tool meets it: a separate, read-only process on the built database."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest
import sqlalchemy
from conftest import DBT, segmentation_rebuilt_on_a_copy

from mimic_segments.publishing import failures
from mimic_segments.reporting import export

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_parquet_export_matches_the_marts(built: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "exports"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mimic_segments.reporting.export",
            "--database",
            built["MIMIC_SEGMENTS_DEV_DB"],
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    with duckdb.connect(built["MIMIC_SEGMENTS_DEV_DB"], read_only=True) as connection:
        marts = {
            name: connection.execute(f"select count(*) from marts.{name}").fetchone()[0]
            for (name,) in connection.execute(
                # the export writes the tables (a view such as patient_cluster_assignments is
                # a stand-in for the tables it reads)
                "select table_name from information_schema.tables"
                " where table_schema = 'marts' and table_type = 'BASE TABLE'"
            ).fetchall()
        }
        for name, rows in marts.items():
            parquet = out / f"{name}.parquet"
            assert connection.execute(f"select count(*) from '{parquet}'").fetchone()[0] == rows
    # the BI schema only: the segmentation internals are not exported
    assert {"patient_segments", "segments", "segment_profiles"} <= set(marts)
    assert not {"patient_features", "patient_clusters"} & set(marts)
    assert f"patient_segments.parquet  {marts['patient_segments']:,} rows" in result.stdout


def test_export_without_a_database_says_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(export.ExportError, match="make build"):
        export.export_schema(tmp_path / "missing.duckdb", tmp_path / "out")


# A BI tool's view: its own process, a read-only connection, the SQL dbt compiled.
_RUN_READ_ONLY = """
import json, sys
import duckdb
database, sql_path = sys.argv[1], sys.argv[2]
with duckdb.connect(database, read_only=True) as connection:
    cursor = connection.execute(open(sql_path).read())
    columns = [d[0] for d in cursor.description]
    rows = [dict(zip(columns, row)) for row in cursor.fetchall()]
print(json.dumps(rows, default=str))
"""


@pytest.fixture(scope="module")
def compiled_analyses(built: dict[str, str], dbt: Callable[..., object]) -> Path:
    dbt("compile", "--select", "resource_type:analysis")
    return Path(built["DBT_TARGET_PATH"]) / "compiled" / "mimic_segments" / "analyses"


def run_analysis(built: dict[str, str], compiled: Path, name: str) -> list[dict[str, object]]:
    sql_path = compiled / f"{name}.sql"
    assert sql_path.is_file(), f"dbt did not compile analyses/{name}.sql"
    result = subprocess.run(
        [sys.executable, "-c", _RUN_READ_ONLY, built["MIMIC_SEGMENTS_DEV_DB"], str(sql_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, f"{name} failed against the built database:\n{result.stderr}"
    rows: list[dict[str, object]] = json.loads(result.stdout)
    return rows


def test_segment_summary(built: dict[str, str], compiled_analyses: Path) -> None:
    rows = run_analysis(built, compiled_analyses, "segment_summary")
    assert len(rows) == 4
    assert sum(int(r["num_patients"]) for r in rows) == 100
    assert sum(float(r["pct_of_registry"]) for r in rows) == pytest.approx(100.0, abs=0.2)
    assert sum(float(r["pct_of_admitted"]) for r in rows) == pytest.approx(100.0, abs=0.2)
    assert len({r["segment_name"] for r in rows}) == 4
    assert all(-1 <= float(r["persona_fit"]) <= 1 for r in rows)
    assert all(r["care_management_action"] for r in rows)
    for row in rows:
        for column in ("pct_early_readmitted", "pct_died_in_hospital", "pct_died_within_1y"):
            assert 0 <= float(row[column]) <= 100


def read_through_sqlalchemy(database: str, sql: str) -> list[dict[str, object]]:
    """Rows as a BI tool reads them: SQLAlchemy over duckdb_engine, a read-only connection."""
    engine = sqlalchemy.create_engine(
        f"duckdb:///{database}", connect_args={"read_only": True}, poolclass=sqlalchemy.pool.NullPool
    )
    try:
        with engine.connect() as connection:
            return [dict(row._mapping) for row in connection.execute(sqlalchemy.text(sql))]
    finally:
        engine.dispose()


def outreach_list(database: str) -> list[dict[str, object]]:
    return read_through_sqlalchemy(database, "select * from marts.outreach_list order by outreach_rank")


def test_outreach_list_holds_only_living_targeted_recent_patients(built: dict[str, str]) -> None:
    database = built["MIMIC_SEGMENTS_DEV_DB"]
    rows = outreach_list(database)
    assert rows, "the demo's outreach list is empty"
    ids = [int(r["subject_id"]) for r in rows]
    assert len(ids) == len(set(ids))
    assert [r["outreach_rank"] for r in rows] == list(range(1, len(rows) + 1))
    # selected by the catalogue's outreach priority (var outreach_max_priority, 2), not by name
    assert {r["outreach_priority"] for r in rows} <= {1, 2}
    assert all(0 <= r["days_since_last_contact"] <= 730 for r in rows)
    assert_outreach_list_is_complete(database, ids, max_priority=2, recent_days=730)
    # no deceased patient, by every death record the warehouse has
    deceased = read_through_sqlalchemy(
        database,
        "select count(*) as n from staging.stg_mimic__patients p"
        " left join staging.stg_mimic__admissions a on a.subject_id = p.subject_id and a.is_hospital_death"
        f" where p.subject_id in ({','.join(map(str, ids))})"
        " and (p.date_of_death is not null or a.hadm_id is not null)",
    )
    assert deceased == [{"n": 0}]
    # the reasons, as columns a BI tool filters on: every listed patient has a segment and an
    # action; the demo's are all admitted, so each has the LACE of a last index discharge,
    # the one readmission_risk_scores marks
    assert all(r["segment_key"] and r["segment_name"] and r["care_management_action"] for r in rows)
    last = {
        int(r["subject_id"]): (r["lace_score"], r["lace_risk_band"], r["discharge_date"])
        for r in read_through_sqlalchemy(
            database, "select * from marts.readmission_risk_scores where is_last_index_discharge"
        )
    }
    assert [(r["lace_score"], r["lace_risk_band"], r["last_index_discharge_date"]) for r in rows] == [
        last[subject_id] for subject_id in ids
    ]
    # ranked by priority, then LACE (highest first, none last), then recency, then subject_id
    assert rows == sorted(
        rows,
        key=lambda r: (
            r["outreach_priority"],
            r["lace_score"] is None,
            -(r["lace_score"] or 0),
            r["days_since_last_contact"],
            r["subject_id"],
        ),
    )


def assert_outreach_list_is_complete(
    database: str, ids: list[int], max_priority: int, recent_days: int
) -> None:
    """The list is exactly the living patients of the prioritised segments whose last admission
    or ED visit is recent."""
    expected = read_through_sqlalchemy(
        database,
        "select s.subject_id from marts.patient_segments s join segmentation.patient_features f "
        "using (subject_id)"
        f" where s.outreach_priority <= {max_priority} and not f.is_known_deceased"
        f" and (f.days_since_last_admission <= {recent_days} or f.days_since_last_ed_visit <= {recent_days})"
        " order by 1",
    )
    assert sorted(ids) == [row["subject_id"] for row in expected]


@pytest.fixture(scope="module")
def six_segments(built: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The segmentation, and the marts after it, rebuilt at k = 6 on a copy of the demo database."""
    return segmentation_rebuilt_on_a_copy(built, tmp_path_factory.mktemp("k6"), "{cluster_k: 6}")


def test_outreach_list_works_for_any_k(six_segments: dict[str, str]) -> None:
    database = six_segments["MIMIC_SEGMENTS_DEV_DB"]
    rows = outreach_list(database)
    naming = read_through_sqlalchemy(
        database, "select distinct naming_rule from segmentation.segment_personas"
    )
    assert naming == [{"naming_rule": "descriptive"}]  # six segments: no catalogue name is a segment name
    assert rows, "the outreach list is empty at k = 6"
    assert_outreach_list_is_complete(
        database,
        [int(r["subject_id"]) for r in rows],
        max_priority=2,
        recent_days=730,
    )
    summary = read_through_sqlalchemy(
        database, "select count(*) as n, sum(num_patients) as p from marts.segments"
    )
    assert summary == [{"n": 6, "p": 100}]


def test_segment_mix_shares_sum_to_one(built: dict[str, str], compiled_analyses: Path) -> None:
    rows = run_analysis(built, compiled_analyses, "segment_mix")
    assert {r["attribute_name"] for r in rows} == {"age_bucket", "gender", "insurance", "race"}
    totals: dict[tuple[object, object], list[float]] = {}
    for row in rows:
        totals.setdefault((row["segment_key"], row["attribute_name"]), []).append(
            float(row["pct_of_segment"])
        )
    assert len({cluster for cluster, _ in totals}) == 4
    for key, shares in totals.items():
        # each share is rounded to 0.1 point
        assert sum(shares) == pytest.approx(100.0, abs=0.05 * len(shares) + 1e-9), key


def test_chronic_condition_coverage_runs(built: dict[str, str], compiled_analyses: Path) -> None:
    rows = run_analysis(built, compiled_analyses, "chronic_condition_coverage")
    assert [int(r["icd_version"]) for r in rows] == [9, 10]
    assert sum(int(r["diagnosis_rows"]) for r in rows) == 4506


def test_marts_carry_their_descriptions_as_comments(db: duckdb.DuckDBPyConnection) -> None:
    missing = db.execute(
        "select table_name, column_name from duckdb_columns()"
        " where schema_name in ('marts', 'segmentation') and (comment is null or comment = '')"
    ).fetchall()
    assert missing == []
    tables_without = db.execute(
        "select table_name from duckdb_tables()"
        " where schema_name in ('marts', 'segmentation') and (comment is null or comment = '')"
    ).fetchall()
    assert tables_without == []


def test_public_marts_have_enforced_contracts(built: dict[str, str], dbt: Callable[..., object]) -> None:
    dbt("parse")
    manifest = json.loads((Path(built["DBT_TARGET_PATH"]) / "manifest.json").read_text())
    sql_marts = [
        node
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model"
        and node["schema"] in ("marts", "segmentation")
        and node["language"] == "sql"
        and node["config"]["materialized"] == "table"
    ]
    assert {n["name"] for n in sql_marts} >= {
        "patient_features",
        "patient_segments",
        "segments",
        "segment_profiles",
    }
    # the one exception: a view whose columns are generated from segment_profiles' feature list
    wide = next(n for n in sql_marts if n["name"] == "segment_profiles_wide")
    assert not wide["config"]["contract"]["enforced"]
    sql_marts.remove(wide)
    for node in sql_marts:
        assert node["config"]["contract"]["enforced"], node["name"]
        assert node["access"] == ("public" if node["schema"] == "marts" else "protected"), node["name"]
        assert all(column.get("data_type") for column in node["columns"].values()), node["name"]
    exposures = {e["name"]: e for e in manifest["exposures"].values()}
    assert set(exposures) == {"care_management_segment_dashboard", "high_risk_outreach_list"}
    assert all(e["owner"]["email"] for e in exposures.values())


def test_not_null_constraints_are_enforced_by_the_database(
    built: dict[str, str], db: duckdb.DuckDBPyConnection
) -> None:
    """Mart columns declared `constraints: [{type: not_null}]` are NOT NULL in DuckDB itself.

    They replace not_null data tests, so an adapter that dropped them would leave those
    columns unchecked: the database must hold them, and refuse a null.
    """
    manifest = json.loads((Path(built["DBT_TARGET_PATH"]) / "manifest.json").read_text())
    declared = {
        (node["name"], column["name"])
        for node in manifest["nodes"].values()
        # SQL marts: built under an enforced contract (Python marts: unenforced_contract)
        if node["resource_type"] == "model"
        and node["schema"] in ("marts", "segmentation")
        and node["language"] == "sql"
        and node["config"]["materialized"] == "table"
        for column in node["columns"].values()
        if any(c["type"] == "not_null" for c in column.get("constraints", []))
    }
    assert len(declared) >= 70
    enforced = set(
        db.execute(
            "select table_name, column_name from duckdb_columns()"
            " where schema_name in ('marts', 'segmentation') and not is_nullable"
        ).fetchall()
    )
    assert declared <= enforced, sorted(declared - enforced)
    # and DuckDB refuses a null there (on a scratch copy of the table's definition)
    scratch = duckdb.connect()
    ddl = db.execute(
        "select sql from duckdb_tables() where schema_name = 'segmentation' and table_name = "
        "'patient_features'"
    ).fetchone()[0]
    scratch.execute(ddl.replace("segmentation.patient_features", "patient_features", 1))
    with pytest.raises(duckdb.ConstraintException, match="NOT NULL"):
        scratch.execute("insert into patient_features (subject_id) values (null)")


def test_column_tests_catch_nulls_a_wrong_type_repeats_and_values_out_of_range(
    built: dict[str, str], tmp_path: Path
) -> None:
    """`unenforced_contract` stands in for the contract dbt does not enforce on Python models
    and seeds, and dbt's own column tests check uniqueness, ranges and value lists: on a copy
    of the built database with nulls in two tables, one retyped column, repeated values,
    values below their range and one outside its list, exactly those tests fail, each naming
    the model, the column and the offending rows' keys, and so does the check on the table
    that reads the nulled column."""
    copy = tmp_path / "tampered.duckdb"
    shutil.copyfile(built["MIMIC_SEGMENTS_DEV_DB"], copy)
    with duckdb.connect(str(copy)) as con:
        nulled = con.execute(
            "update segmentation.segment_centroids set feature_name = null where feature_position = 1"
        ).fetchone()[0]
        # every demo patient is admitted, so all 100 are scored against the centroids
        (scored,) = con.execute("select count(*) from segmentation.patient_nearest_centroid").fetchone()
        con.execute(
            "alter table segmentation.segment_personas alter persona_name type integer using "
            "length(persona_name)"
        )
        # and a seed (dbt builds seeds without a contract too)
        con.execute("update raw.persona_catalogue set description = null where catalogue_order = 1")
        # accepted_range (min_value: 1) and accepted_values
        con.execute("update raw.persona_catalogue set outreach_priority = 0 where catalogue_order <= 2")
        con.execute("update raw.persona_catalogue set persona_kind = 'other' where catalogue_order = 3")
        # unique: two rows repeat the first row's value
        con.execute(
            "update raw.persona_catalogue set care_management_action ="
            " (select care_management_action from raw.persona_catalogue where catalogue_order = 1)"
            " where catalogue_order in (2, 3)"
        )
        (repeated,) = con.execute(
            "select care_management_action from raw.persona_catalogue where catalogue_order = 1"
        ).fetchone()
    target = tmp_path / "target"
    env = {**built, "MIMIC_SEGMENTS_DEV_DB": str(copy), "DBT_TARGET_PATH": str(target)}
    result = subprocess.run(
        [
            str(DBT),
            "test",
            "--select",
            "segment_centroids segment_personas persona_catalogue patient_nearest_centroid",
            "--indirect-selection",
            "cautious",
            "--exclude",
            "test_type:singular test_type:unit",
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1, result.stdout[-3000:]
    located = {
        (node.model, node.name.split("_" + (node.model or ""))[0], node.column): node
        for node in failures.locate_failures(target, copy)
    }
    assert sorted(located) == [
        ("patient_nearest_centroid", "expression_is_true", None),
        ("persona_catalogue", "accepted_range", "outreach_priority"),
        ("persona_catalogue", "accepted_values", "persona_kind"),
        ("persona_catalogue", "unenforced_contract", None),
        ("persona_catalogue", "unique", "care_management_action"),
        ("segment_centroids", "unenforced_contract", None),
        ("segment_personas", "unenforced_contract", None),
    ]
    with duckdb.connect(str(copy), read_only=True) as con:

        def rows(key: tuple[str, str, str | None], columns: str = "*") -> list[tuple]:
            relation = located[key].failures_relation
            return con.execute(f"select {columns} from {relation} order by all").fetchall()

        # a check declared on the next table sees the nulled feature too: every patient was
        # scored on one feature more than the centroids now name
        assert len(rows(("patient_nearest_centroid", "expression_is_true", None))) == scored == 100
        assert rows(("persona_catalogue", "accepted_range", "outreach_priority"), "catalogue_order") == [
            (1,),
            (2,),
        ]
        assert rows(("persona_catalogue", "accepted_values", "persona_kind")) == [("other", 1)]
        assert rows(("persona_catalogue", "unique", "care_management_action")) == [(repeated, 3)]
        assert rows(("persona_catalogue", "unenforced_contract", None)) == [
            ("description", "not null", "null", "catalogue_order=1")
        ]
        centroid_nulls = rows(("segment_centroids", "unenforced_contract", None))
        assert nulled >= 2 and len(centroid_nulls) == nulled
        assert {row[:3] for row in centroid_nulls} == {("feature_name", "not null", "null")}
        assert all(row[3].startswith("cluster_id=") for row in centroid_nulls)
        assert rows(("segment_personas", "unenforced_contract", None)) == [
            ("persona_name", "varchar", "integer", None)
        ]
    # the publish step's report shows each with its first rows
    report = located[("persona_catalogue", "unenforced_contract", None)].describe()
    assert "model:  persona_catalogue" in report
    assert "column_name=description, declared=not null, found=null, failing_key=catalogue_order=1" in report
