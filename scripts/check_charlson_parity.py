"""Check `segmentation.admission_comorbidities` against MIT-LCP mimic-code's Charlson concept.

The reference is MIT-LCP mimic-code's ``mimic-iv/concepts/comorbidity/charlson.sql``
(BigQuery dialect) or one of its generated translations (``concepts_duckdb`` /
``concepts_postgres``). Its SQL is not part of this repository: pass the path to a local
copy (keep it under the git-ignored ``.cache/``).

What the script does, mechanically:

1. Opens an in-memory DuckDB, attaches the project database read-only, and creates the
   relations the reference reads as views over the project's raw seeds:
   ``mimiciv_hosp.admissions``, ``mimiciv_hosp.diagnoses_icd``, ``mimiciv_hosp.patients``
   and ``mimiciv_derived.age`` (MIMIC-IV's age at admission: ``anchor_age`` plus the
   years from ``anchor_year`` to the admission year, as mimic-code's ``age`` concept).
2. Adapts the reference SQL: removes ``--`` line comments (their text holds semicolons),
   drops a leading ``DROP TABLE ...; CREATE TABLE ... AS``, rewrites BigQuery's
   ```physionet-data.<dataset>.<table>``` names to ``<dataset>.<table>``, drops the final
   semicolon. Nothing else is changed: SUBSTR/SUBSTRING, BETWEEN and GREATEST run as they
   are (GREATEST's NULL handling differs between BigQuery and DuckDB, but its arguments
   here are never NULL: every flag is a MAX over ``CASE ... ELSE 0``).
3. Runs it and compares it, admission by admission, with ``admission_comorbidities``:
   the 17 condition flags, the age points and the index.

Prints the number of admissions compared and the mismatches per column; exits 0 when every
admission agrees on every column, 1 otherwise (2 on a usage or input error).

Usage::

    python scripts/check_charlson_parity.py PATH/TO/charlson.sql [--db mimic_segments.duckdb]
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import duckdb

PROJECT_RELATION = "project.segmentation.admission_comorbidities"

# reference column -> admission_comorbidities column (booleans are compared as 0/1)
COLUMN_MAP: dict[str, str] = {
    "myocardial_infarct": "has_myocardial_infarction",
    "congestive_heart_failure": "has_congestive_heart_failure",
    "peripheral_vascular_disease": "has_peripheral_vascular_disease",
    "cerebrovascular_disease": "has_cerebrovascular_disease",
    "dementia": "has_dementia",
    "chronic_pulmonary_disease": "has_chronic_pulmonary_disease",
    "rheumatic_disease": "has_rheumatic_disease",
    "peptic_ulcer_disease": "has_peptic_ulcer_disease",
    "mild_liver_disease": "has_mild_liver_disease",
    "diabetes_without_cc": "has_diabetes_without_chronic_complication",
    "diabetes_with_cc": "has_diabetes_with_chronic_complication",
    "paraplegia": "has_hemiplegia_or_paraplegia",
    "renal_disease": "has_renal_disease",
    "malignant_cancer": "has_any_malignancy",
    "severe_liver_disease": "has_moderate_or_severe_liver_disease",
    "metastatic_solid_tumor": "has_metastatic_solid_tumor",
    "aids": "has_aids_hiv",
    "age_score": "charlson_age_points",
    "charlson_comorbidity_index": "charlson_comorbidity_index",
}

# The MIMIC-IV relations the reference reads, as views over the project's raw seeds.
SCRATCH_VIEWS = (
    "create schema mimiciv_hosp",
    "create schema mimiciv_derived",
    "create view mimiciv_hosp.admissions as select * from project.raw.admissions",
    "create view mimiciv_hosp.diagnoses_icd as select * from project.raw.diagnoses_icd",
    "create view mimiciv_hosp.patients as select * from project.raw.patients",
    # mimic-code's `age` concept: anchor_age + whole calendar years from anchor_year
    """
    create view mimiciv_derived.age as
    select
        admissions.subject_id,
        admissions.hadm_id,
        admissions.admittime,
        patients.anchor_age,
        patients.anchor_year,
        patients.anchor_age + extract(year from admissions.admittime) - patients.anchor_year as age
    from mimiciv_hosp.admissions as admissions
    inner join mimiciv_hosp.patients as patients on admissions.subject_id = patients.subject_id
    """,
)

LINE_COMMENT = re.compile(r"--[^\n]*")
LEADING_DDL = re.compile(
    r"^\s*drop\s+table\s+if\s+exists\s+[\w.]+\s*;\s*create\s+table\s+[\w.]+\s+as\s*",
    re.IGNORECASE,
)
BIGQUERY_NAME = re.compile(r"`physionet-data\.(\w+)\.(\w+)`")


class ParityInputError(Exception):
    """The reference SQL or the project database cannot be used; the message says why."""


@dataclass(frozen=True)
class ParityReport:
    reference_rows: int
    project_rows: int
    compared: int
    only_in_reference: int
    only_in_project: int
    mismatches: dict[str, int]
    admissions_with_mismatch: int
    examples: list[tuple[object, ...]]

    @property
    def passed(self) -> bool:
        return (
            self.compared > 0
            and self.only_in_reference == 0
            and self.only_in_project == 0
            and self.admissions_with_mismatch == 0
        )


def adapt_reference_sql(sql: str) -> str:
    """Return the reference query as a plain DuckDB SELECT over the scratch schemas."""
    adapted = LINE_COMMENT.sub("", sql)
    adapted = LEADING_DDL.sub("", adapted, count=1)
    adapted = BIGQUERY_NAME.sub(r"\1.\2", adapted)
    adapted = adapted.strip().rstrip(";").strip()
    if "`" in adapted:
        raise ParityInputError("the reference SQL still holds backticked names after adaptation")
    if ";" in adapted:
        raise ParityInputError("the reference SQL holds more than one statement")
    if not re.search(r"\bselect\b", adapted, re.IGNORECASE):
        raise ParityInputError("the reference SQL holds no SELECT")
    return adapted


def connect(db_path: Path) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the project attached read-only and the scratch views."""
    if not db_path.is_file():
        raise ParityInputError(f"{db_path}: project database not found; run `make build` first")
    connection = duckdb.connect()
    connection.execute(f"attach '{db_path}' as project (read_only)")
    for statement in SCRATCH_VIEWS:
        connection.execute(statement)
    return connection


def compare(connection: duckdb.DuckDBPyConnection, reference_sql: str, max_examples: int = 5) -> ParityReport:
    """Run the adapted reference and compare it with the project's mart by hadm_id."""
    connection.execute(f"create or replace temp table reference as {reference_sql}")
    missing = [c for c in ("hadm_id", *COLUMN_MAP) if c not in _columns(connection, "reference")]
    if missing:
        raise ParityInputError(f"the reference query does not return the columns {missing}")

    differs = {
        ref: f"(r.{ref} is distinct from cast(p.{proj} as integer))" for ref, proj in COLUMN_MAP.items()
    }
    counts = connection.execute(
        f"""
        select
            (select count(*) from reference),
            (select count(*) from {PROJECT_RELATION}),
            count(*) filter (where r.hadm_id is not null and p.hadm_id is not null),
            count(*) filter (where p.hadm_id is null),
            count(*) filter (where r.hadm_id is null),
            {", ".join(f"count(*) filter (where r.hadm_id = p.hadm_id and {d})" for d in differs.values())},
            count(*) filter (where r.hadm_id = p.hadm_id and ({" or ".join(differs.values())}))
        from reference as r
        full outer join {PROJECT_RELATION} as p on r.hadm_id = p.hadm_id
        """
    ).fetchone()
    assert counts is not None
    pairs = ", ".join(f"r.{ref}, cast(p.{proj} as integer)" for ref, proj in COLUMN_MAP.items())
    examples = connection.execute(
        f"""
        select r.hadm_id, {pairs}
        from reference as r
        inner join {PROJECT_RELATION} as p on r.hadm_id = p.hadm_id
        where {" or ".join(differs.values())}
        order by r.hadm_id
        limit {int(max_examples)}
        """
    ).fetchall()
    per_column = counts[5 : 5 + len(COLUMN_MAP)]
    return ParityReport(
        reference_rows=counts[0],
        project_rows=counts[1],
        compared=counts[2],
        only_in_reference=counts[3],
        only_in_project=counts[4],
        mismatches=dict(zip(COLUMN_MAP, per_column, strict=True)),
        admissions_with_mismatch=counts[-1],
        examples=examples,
    )


def _columns(connection: duckdb.DuckDBPyConnection, relation: str) -> list[str]:
    return [row[0] for row in connection.execute(f"describe {relation}").fetchall()]


def format_report(report: ParityReport, reference_path: Path, db_path: Path) -> str:
    lines = [
        f"Charlson parity: {reference_path}",
        f"  vs segmentation.admission_comorbidities in {db_path}",
        f"admissions: reference {report.reference_rows}, project {report.project_rows}, "
        f"compared {report.compared}, only in reference {report.only_in_reference}, "
        f"only in project {report.only_in_project}",
        f"{'reference column':<28} {'project column':<44} mismatches",
    ]
    lines += [f"{ref:<28} {COLUMN_MAP[ref]:<44} {n}" for ref, n in report.mismatches.items()]
    lines.append(f"admissions with any mismatch: {report.admissions_with_mismatch}")
    for example in report.examples:
        pairs = [
            f"{ref}={example[1 + 2 * i]}/{example[2 + 2 * i]}"
            for i, ref in enumerate(COLUMN_MAP)
            if example[1 + 2 * i] != example[2 + 2 * i]
        ]
        lines.append(f"  hadm_id {example[0]}: reference/project {', '.join(pairs)}")
    if report.passed:
        lines.append(
            f"PASS: {report.compared}/{report.reference_rows} admissions agree on the 17 flags, "
            "the age points and the index"
        )
    else:
        lines.append("FAIL")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("reference_sql", type=Path, help="local copy of mimic-code's charlson.sql")
    parser.add_argument(
        "--db",
        type=Path,
        default=Path(os.environ.get("MIMIC_SEGMENTS_DB", "mimic_segments.duckdb")),
        help="project DuckDB file (default: $MIMIC_SEGMENTS_DB or mimic_segments.duckdb)",
    )
    parser.add_argument("--examples", type=int, default=5, help="mismatching admissions to show")
    args = parser.parse_args(argv)
    try:
        try:
            sql = args.reference_sql.read_text(encoding="utf-8")
        except OSError as exc:
            raise ParityInputError(f"{args.reference_sql}: cannot read the reference SQL ({exc})") from None
        connection = connect(args.db)
        report = compare(connection, adapt_reference_sql(sql), args.examples)
    except (ParityInputError, duckdb.Error) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(format_report(report, args.reference_sql, args.db))
    return 0 if report.passed else 1


if __name__ == "__main__":
    sys.exit(main())
