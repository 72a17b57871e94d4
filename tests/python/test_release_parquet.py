"""Tests for the one-time Parquet conversion (mimic_segments.sources.release_parquet)."""

from __future__ import annotations

import gzip
from pathlib import Path

import duckdb
import pytest

from mimic_segments.sources import release_parquet
from mimic_segments.sources.release_parquet import ConversionError, convert, source_tables
from mimic_segments.synthetic import generator


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("parquet") / "release"
    generator.generate_release(out, 300, seed=2, release="2.2")
    return out


def copy_release(release: Path, dest: Path) -> None:
    for path in release.rglob("*.csv.gz"):
        target = dest / path.relative_to(release)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())


def test_source_declaration_matches_the_official_columns() -> None:
    """The dbt source, the generator and the converter agree on tables, modules and columns.

    The generator writes every declared table; it may write more (hosp/transfers, until the
    dbt source declares it)."""
    declared = {f"{t.module}/{t.name}": tuple(t.columns) for t in source_tables()}
    assert declared == {name: generator.COLUMNS[name] for name in declared}
    types = {t.name: t.columns for t in source_tables()}
    assert types["diagnoses_icd"]["icd_code"] == "VARCHAR"  # ICD codes are strings
    assert types["d_icd_diagnoses"]["icd_code"] == "VARCHAR"


def test_copies_hold_the_typed_rows_of_the_csvs(release: Path, tmp_path: Path) -> None:
    out = tmp_path / "copies"
    written = convert(release, out, progress=False)
    assert sorted(p.relative_to(out).as_posix() for p in written) == sorted(
        f"{t.module}/{t.name}.parquet" for t in source_tables()
    )
    with duckdb.connect() as con:
        for table in source_tables():
            parquet = table.parquet_path(out)
            described = con.execute(f"describe select * from read_parquet('{parquet}')").fetchall()
            assert [(row[0], row[1]) for row in described] == list(table.columns.items())
            columns = "{" + ", ".join(f"'{c}': '{t}'" for c, t in table.columns.items()) + "}"
            differing = con.execute(
                f"select count(*) from ((select * from read_parquet('{parquet}')) except all "
                f"(select * from read_csv('{table.csv_path(release)}', header = true, auto_detect = false, "
                f"columns = {columns})))"
            ).fetchone()
            assert differing == (0,), table.name
    assert not list(out.rglob("*.part"))


def test_default_writes_beside_the_csvs(release: Path, tmp_path: Path) -> None:
    copy = tmp_path / "beside"
    copy_release(release, copy)
    assert release_parquet.main(["--release-dir", str(copy)]) == 0
    assert (copy / "hosp" / "patients.parquet").is_file() and (copy / "icu" / "icustays.parquet").is_file()


def test_missing_file_is_named(release: Path, tmp_path: Path) -> None:
    with pytest.raises(ConversionError, match=r"missing .*hosp/admissions\.csv\.gz"):
        convert(tmp_path / "nothing-here", tmp_path / "out", progress=False)


def test_wrong_header_is_named(release: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    copy_release(release, broken)
    with gzip.open(broken / "icu" / "icustays.csv.gz", "wt") as handle:
        handle.write("subject_id,hadm_id,stay_id\n1,2,3\n")
    with pytest.raises(
        ConversionError, match=r"icustays\.csv\.gz: columns \['subject_id', 'hadm_id', 'stay_id'\]"
    ):
        convert(broken, tmp_path / "out", progress=False)
    assert not (tmp_path / "out" / "icu").exists() or not list((tmp_path / "out" / "icu").iterdir())


def test_conversion_error_names_the_file_under_a_path_with_quotes(release: Path, tmp_path: Path) -> None:
    broken = tmp_path / 'it\'s a "release" é'
    copy_release(release, broken)
    admissions = broken / "hosp" / "admissions.csv.gz"
    with gzip.open(admissions, "rt") as handle:
        lines = handle.readlines()
    fields = lines[2].split(",")
    fields[2] = "not a time"  # admittime
    lines[2] = ",".join(fields)
    with gzip.open(admissions, "wt") as handle:
        handle.writelines(lines)
    with pytest.raises(ConversionError) as failure:
        convert(broken, broken, progress=False)
    assert str(failure.value).startswith(f"{admissions}: Conversion Error")
    assert "not a time" in str(failure.value)
    # the tables before it were converted under the quoted path; nothing half-written is left
    assert (broken / "hosp" / "patients.parquet").is_file()
    assert not list(broken.rglob("*.part"))
