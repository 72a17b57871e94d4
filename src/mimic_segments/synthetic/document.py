"""Render ``docs/generator.md``: the generator's fitted distributions and published figures.

The page is made from ``generator_params.json`` (what ``fit`` measured on the demo) and the
published figures of ``mimic_segments.synthetic.model``; a test keeps the committed page equal
to this rendering, so the numbers it shows are the ones the generator uses.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
from pathlib import Path
from typing import Any

from mimic_segments import PROJECT_ROOT
from mimic_segments.synthetic import correlations
from mimic_segments.synthetic.model import (
    ED_MODULE,
    ED_ONLY_WINDOW_DAYS,
    RELEASE_ADMISSION_TYPE_COUNTS,
    RELEASES,
    build_model,
    load_params,
)

DEFAULT_DOC = PROJECT_ROOT / "docs" / "generator.md"


def _share(counts: dict[str, int], limit: int | None = None) -> str:
    total = float(sum(counts.values()))
    items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    shown = items if limit is None else items[:limit]
    text = ", ".join(f"{key or '(empty)'} {count / total:.1%}" for key, count in shown)
    return text + (f", {len(items) - limit} more" if limit is not None and len(items) > limit else "")


def _ln(params: dict[str, float], unit: str) -> str:
    return (
        f"log-normal, median {math.exp(params['mu']):.3g} {unit} "
        f"(mu {params['mu']:.3f}, sigma {params['sigma']:.3f}, n {params['n']})"
    )


def _by_type(shares: dict[str, float]) -> str:
    return ", ".join(f"{t} {v:.0%}" for t, v in shares.items())


def _patient_rows(params: dict[str, Any]) -> list[tuple[str, str]]:
    p, deaths = params["patients"], params["deaths"]
    a = params["admissions"]
    edges = p["anchor_age_bin_edges"]
    bin_label = {
        str(low): (f"{low}-{high - 1}" if high - 1 > low else str(low))
        for low, high in itertools.pairwise(edges)
    }
    return [
        ("patients: gender", _share(p["gender_counts"])),
        (
            "patients: anchor_age (91 = older than 89; uniform within a bin)",
            _share({bin_label[k]: v for k, v in p["anchor_age_bin_counts"].items()}),
        ),
        (
            "patients: shifted anchor_year",
            f"uniform {p['anchor_year_min']}-{p['anchor_year_max']} (the demo's range)",
        ),
        (
            "patients: anchor_year_group",
            f"demo: {_share(p['anchor_year_group_counts'])}; the demo covers two groups only, so the "
            "generator draws the group uniformly from the release's (2008 - 2010 ... 2017 - 2019 for "
            "2.2, ... 2020 - 2022 for 3.1), and for a never-admitted patient from those within the ED "
            f"module's {ED_MODULE.first_year}-{ED_MODULE.last_year}",
        ),
        ("first admission, years after anchor_year", _share(p["first_admission_years_after_anchor_counts"])),
        ("patients who die in hospital (last stay)", f"{a['patients_with_hospital_death_share']:.1%}"),
        (
            "patients with a date of death after discharge",
            f"{deaths['dod_share_without_hospital_death']:.1%} of the others, "
            + _ln(deaths["dod_days_after_last_discharge_lognormal"], "days")
            + " after the last discharge",
        ),
    ]


def _admission_rows(params: dict[str, Any]) -> list[tuple[str, str]]:
    a = params["admissions"]
    b2b = a["back_to_back"]
    return [
        ("admissions per admitted patient", _share(a["per_patient_counts"], 8)),
        ("admission_type (demo; `--volumes demo`)", _share(a["admission_type_counts"])),
        ("length of stay, all types (days)", _ln(a["los_days_lognormal_pooled"], "days")),
        *(
            (f"length of stay, {t} (days)", _ln(fit, "days"))
            for t, fit in a["los_days_lognormal_by_type"].items()
        ),
        (
            "back-to-back stays",
            f"{b2b['within_max_gap']} of {b2b['pairs']} consecutive pairs of a patient's stays "
            f"({b2b['within_max_gap'] / b2b['pairs']:.1%}) start 0-{b2b['max_gap_minutes']} minutes after "
            "the previous discharge (none between 15 minutes and 20.5 hours); drawn at that share, "
            "uniform in whole minutes, without an ED visit of their own",
        ),
        (
            f"gap from a discharge to the next admission (pairs over {b2b['max_gap_minutes']} minutes)",
            _ln(a["readmission_gap_days_lognormal"], "days"),
        ),
        ("ED registration, share by admission type", _by_type(a["ed_share_by_type"])),
        ("ED registration before admission", _ln(a["ed_hours_before_admission_lognormal"], "hours")),
        ("ED departure after admission", _ln(a["ed_hours_after_admission_lognormal"], "hours")),
        ("admission_location", _share(a["admission_location_counts"], 5)),
        ("discharge_location (alive)", _share(a["discharge_location_counts_alive"], 5)),
        ("insurance", _share(a["insurance_counts"])),
        ("language", _share(a["language_counts"])),
        ("marital_status", _share(a["marital_status_counts"])),
        ("race", _share(a["race_counts"], 5)),
    ]


def _diagnosis_and_icu_rows(params: dict[str, Any]) -> list[tuple[str, str]]:
    d, i = params["diagnoses"], params["icustays"]
    n_codes = {version: len(codes) for version, codes in d["code_counts"].items()}
    top_codes = {
        version: ", ".join(code for code, _ in sorted(codes.items(), key=lambda kv: (-kv[1], kv[0]))[:5])
        for version, codes in d["code_counts"].items()
    }
    return [
        ("diagnoses per admission", _share(d["per_admission_counts"], 8)),
        (
            "ICD version",
            f"demo: {_share(d['icd_version_counts'])}; generated: ICD-9-CM before 2015-10-01, ICD-10-CM "
            "from then on (the US switch), by the stay's real date",
        ),
        (
            "ICD codes",
            f"the demo's frequencies: {n_codes['9']} ICD-9-CM codes (most frequent {top_codes['9']}), "
            f"{n_codes['10']} ICD-10-CM codes (most frequent {top_codes['10']})",
        ),
        ("admissions with an ICU stay, by admission type", _by_type(i["admission_share_by_type"])),
        ("ICU stays per admission", _share(i["per_admission_counts"])),
        ("ICU length of stay", _ln(i["los_days_lognormal"], "days")),
        ("ICU admission after hospital admission", _ln(i["intime_days_after_admission_lognormal"], "days")),
        ("first_careunit", _share(i["first_careunit_counts"], 5)),
        ("stays that change care unit", f"{i['careunit_change_share']:.1%}"),
    ]


def _transfer_rows(params: dict[str, Any]) -> list[tuple[str, str]]:
    t = params["transfers"]
    ed_only = t["ed_only_visits_per_patient_counts"]
    with_any = {k: v for k, v in ed_only.items() if k != "0"}
    n_patients = sum(ed_only.values())
    return [
        ("transfers rows by eventtype", _share(t["eventtype_counts"])),
        (
            "first ward row after admittime, stays without ED",
            _ln(t["ward_minutes_after_admittime_without_ed_lognormal"], "minutes")
            + " (fitted on the rows that start after admittime)",
        ),
        ("discharge row after dischtime", _ln(t["discharge_minutes_after_dischtime_lognormal"], "minutes")),
        ("ward-to-ward moves per admission", _share(t["ward_moves_per_admission_counts"])),
        ("careunit of the first ward row (outside ICU stays)", _share(t["first_ward_careunit_counts"], 6)),
        ("careunit of later ward rows (outside ICU stays)", _share(t["later_ward_careunit_counts"], 6)),
        (
            "ED visits without an admission, per patient",
            f"{t['ed_rows_without_admission']} rows of {sum(with_any.values())} of the {n_patients} demo "
            f"patients (all admitted); among those with any: {_share(with_any)}",
        ),
        ("ED visit without an admission, length", _ln(t["ed_only_visit_hours_lognormal"], "hours")),
        (
            "gap between a patient's ED visits without an admission",
            _ln(t["days_between_ed_only_visits_lognormal"], "days"),
        ),
    ]


def _volumes_section(params: dict[str, Any]) -> list[str]:
    releases = "; ".join(
        f"{r.name}: {r.patients:,} patients of whom {r.admitted_patients:,} have an admission "
        f"({1 - r.admitted_share:.1%} never admitted), {r.admissions:,} admissions, {r.diagnoses:,} "
        f"diagnosis rows, {r.icustays:,} ICU stays"
        for r in RELEASES.values()
    )
    models = {name: build_model(params, name, "release") for name in RELEASES}
    total = sum(RELEASE_ADMISSION_TYPE_COUNTS.values())
    mix = ", ".join(
        f"{t} {n:,} ({n / total:.1%})"
        for t, n in sorted(RELEASE_ADMISSION_TYPE_COUNTS.items(), key=lambda kv: -kv[1])
    )
    keep = ", ".join(f"{name}: {m.ed_only_extra_keep_share:.2f}" for name, m in models.items())
    return [
        "## Volumes: the demo's shapes, the release's totals",
        "",
        "The demo holds 100 admitted ICU patients, far heavier per patient than the full release. With "
        "`--volumes release` (default) the fitted shapes are kept and these rates are scaled to the "
        "chosen release's published figures (`--volumes demo` keeps the demo's own rates):",
        "",
        f"- Table sizes (PhysioNet release pages; admitted = distinct `subject_id` of `hosp/admissions`): "
        f"{releases}. Scaled: the share of patients with any admission; admissions per admitted patient "
        "(each admission after the first kept with one probability); diagnoses per admission (binomial "
        "thinning, at least one); the share of admissions with an ICU stay (the demo's share by "
        "admission type times one factor).",
        f"- admission_type mix of MIMIC-IV 3.x ({total:,} admissions): {mix}. No official table "
        "publishes these counts: they were measured on the full release by a public third-party "
        "readmission project and quoted in its source, and sum exactly to the release's admissions. "
        "The spellings are the MIMIC-IV docs' (hosp/admissions), the same in 2.2 and 3.1; 2.2 volumes "
        "use the same mix (no 2.2 counts found). The observation types (EU, DIRECT and AMBULATORY "
        "OBSERVATION) keep their own short lengths of stay, fitted per type on the demo.",
        f"- ED visits without an admission: MIMIC-IV-ED 2.2, the ED module both releases link to, "
        f"holds {ED_MODULE.stays:,} ED stays in {ED_MODULE.first_year}-{ED_MODULE.last_year}, "
        f"{ED_MODULE.admitted_stays:,} of them with disposition ADMITTED (MIMIC-IV docs, ed/edstays; "
        f"PhysioNet MIMIC-IV-ED), so {ED_MODULE.stays_without_admission:,} did not lead to an admission. "
        "Every never-admitted patient has at least one (MIMIC-IV's patients came through its ED or an "
        "ICU: PhysioNet MIMIC-IV 3.1 abstract); admitted patients have some at the demo's share; each "
        "visit after a patient's first is kept with one probability, so that visits per registry "
        f"patient match the module's (keep share {keep}; the share of admitted patients whose years "
        "meet the module's is approximated by the "
        "share of anchor year groups within them, and visits that would fall during a stay are "
        "dropped, so a release holds a few per cent fewer).",
        "",
    ]


def _transfers_section() -> list[str]:
    return [
        "## `hosp/transfers` as generated",
        "",
        "Columns, in MIMIC-IV's order (DuckDB types as the generator's tests read them; the file is "
        "gzipped CSV with a header, empty fields for NULL, timestamps `YYYY-MM-DD HH:MM:SS`):",
        "",
        "| column | type | NULL when |",
        "| --- | --- | --- |",
        "| subject_id | BIGINT | never |",
        "| hadm_id | BIGINT | on ED rows of visits that did not lead to an admission |",
        "| transfer_id | BIGINT | never; unique; an ICU stay's `stay_id` is the `transfer_id` of its "
        "first row, as in MIMIC-IV |",
        "| eventtype | VARCHAR: `ED`, `admit`, `transfer`, `discharge` | never |",
        "| careunit | VARCHAR (`Emergency Department` on every ED row; the demo's ward and ICU units) | "
        "on discharge rows |",
        "| intime | TIMESTAMP | never |",
        "| outtime | TIMESTAMP | on discharge rows |",
        "",
        "What holds in every generated release (tested in `tests/python/test_generator.py`):",
        "",
        "- An admission that came through the ED has one `ED` row with its `hadm_id`, from `edregtime` "
        "to `edouttime`; no other admission has one. Then an `admit` row (starting at `edouttime`, or "
        "minutes after `admittime` without the ED), `transfer` rows for ward moves and ICU stays, each "
        "starting where the previous ends, and a `discharge` row at or after `dischtime`.",
        "- Every ICU stay of `icu/icustays` has its first row in transfers (`transfer_id` = `stay_id`, "
        "same `hadm_id` and `intime`) and a row of its admission ending at its `outtime`; ICU stays "
        "lie between the first ward row and `dischtime`.",
        "- A patient's rows never overlap, across stays either; the file is ordered by patient and "
        "time, and `transfer_id` follows that order from 30,000,000 (beyond 39,999,999, MIMIC-IV's "
        "8-digit range, only past about 1.6 million patients).",
        f"- `ED` rows without `hadm_id` start in the ED module's years ({ED_MODULE.first_year}-"
        f"{ED_MODULE.last_year}, real time), never during one of the patient's stays (ED arrival to "
        "discharge row) and not after the patient's death; an admitted patient's lie within "
        f"{ED_ONLY_WINDOW_DAYS} days of their first admission and last discharge (the demo's 54: from "
        "4.8 years before the first admission to 116 days after the last discharge, 39 in between); "
        "a never-admitted patient's first falls in their anchor year.",
        "",
        "Known departures from MIMIC-IV: one `ED` row per ED visit (the demo has one admission with "
        "two contiguous ones); the ED row's times are exactly `edregtime`/`edouttime` (the demo: "
        "180 of 181 and 147 of 182); no first ward row starts before `admittime` (the demo: 20 of 93 "
        "without the ED); one row per ICU stay, two when it changes unit (the demo: 175 rows for 140 "
        "stays), and no ICU stay ends after `dischtime` (the demo: 22 of 140); ward careunits, "
        "deaths and discharge locations do not depend on the admission type (in the demo no "
        "observation stay has an ICU stay, a death or a discharge_location; the ICU share does "
        "depend on it); never-admitted patients have no date of death; `transfer_id` is in patient "
        "and time order (MIMIC-IV's are random).",
        "",
    ]


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.2f}"


def _severity_section(params: dict[str, Any], generated: dict[str, Any] | None) -> list[str]:
    severity = params["severity"]
    demo, loadings, raw = severity["demo"], severity["loadings"], severity["one_factor_loadings"]
    channels = {
        "admissions": "the number of admissions (a quantile of the release-scaled count distribution), "
        "and, negated, the gaps between them (shorter gaps, more early readmissions)",
        "chronic_conditions": "the probability that a diagnosis row is a code HCUP marks chronic",
        "icu_stays": "whether an admission has an ICU stay (the top share of its admission type)",
        "mean_los_days": "the length of stay (the normal score within its type's log-normal)",
        "died": "death in hospital, and a date of death after discharge (the top shares)",
    }
    lines = [
        "## Patient-level severity",
        "",
        "Each generated patient has a latent severity, a standard normal drawn from the seed. Every "
        "channel below draws from `loading * severity + sqrt(1 - loading^2) * noise` instead of from "
        "noise alone, and turns that into its value by a quantile of its fitted distribution, so the "
        "shares and distributions above (and the release totals) are kept while sicker patients get "
        "more of each. The loadings are fitted on the demo (`fit.py`): one common factor for its "
        "patients' Spearman correlations below, each turned into a normal correlation "
        "(r = 2 sin(pi rho / 6), a Gaussian copula's), then clipped to [0, 0.8]:",
        "",
        "| channel | loading (one-factor fit) | drives |",
        "| --- | --- | --- |",
        *(f"| {name} | {loadings[name]:.3f} ({raw[name]:.3f}) | {text} |" for name, text in channels.items()),
        "",
        "Correlations measured the same way on the demo and on a generated release "
        "(`mimic_segments.synthetic.correlations`; `make generator-correlations` regenerates the "
        "release and rewrites this table). Patient features are over each admitted patient's whole "
        "history; chronic conditions are the distinct codes HCUP marks chronic (CCI, CCIR), as in "
        "`int_chronic_conditions_aggregated_to_patients`. Next-year outcomes are at each patient's "
        "index, first admission + 365 days (`feature_index: first_year`), for patients alive at it, "
        "against the features over the stays discharged by the index; there is no censoring at the "
        "end of the data, so a patient indexed near it counts as having no next-year use.",
        "",
    ]
    if generated is None:
        return [*lines, "No generated release measured yet: run `make generator-correlations`.", ""]
    lines += [
        f"Demo: {demo['patients']} admitted patients, {demo['indexed_patients']} indexed. Generated: "
        f"{generated['generated_patients']:,} patients (seed {generated['seed']}, release "
        f"{generated['release']}), {generated['patients']:,} admitted, "
        f"{generated['indexed_patients']:,} indexed.",
        "",
        "| Spearman's rho | demo | generated |",
        "| --- | --- | --- |",
        *(
            f"| {pair} | {_fmt(value)} | {_fmt(generated['features'].get(pair))} |"
            for pair, value in demo["features"].items()
        ),
        *(
            f"| {pair} | {_fmt(value)} | {_fmt(generated['outcomes'].get(pair))} |"
            for pair, value in demo["outcomes"].items()
        ),
        "",
        "What this shows, and what it does not: generated data proves the project's machinery, not "
        "clinical truth. The severity makes a release in which chronic burden, ICU use, length of "
        "stay, readmission and death move together, so a prospective check at scale has something to "
        "find; how strongly they move together comes from 100 demo patients, all of them ICU "
        "patients, and the demo's next-year correlations rest on few patients with any next-year use "
        "(several are near zero or negative). Counts of chronic codes and ICU stays also grow with "
        "admissions by construction, whatever the severity. Nothing here says how MIMIC-IV's "
        "patients, or any hospital's, are related.",
        "",
    ]
    return lines


def render_markdown(params: dict[str, Any], generated: dict[str, Any] | None = None) -> str:
    """``docs/generator.md``: published figures, the transfers layout, the severity and its
    correlations (``generated``: a generated release's, by default the committed
    ``generated_correlations.json``), and one table row per fitted distribution."""
    if generated is None:
        generated = correlations.load_generated()
    p, a, d, i, t = (params[k] for k in ("patients", "admissions", "diagnoses", "icustays", "transfers"))
    rows = [
        *_patient_rows(params),
        *_admission_rows(params),
        *_diagnosis_and_icu_rows(params),
        *_transfer_rows(params),
    ]
    lines = [
        "# The MIMIC-shaped generator's distributions",
        "",
        "Fitted by `python -m mimic_segments.synthetic.fit` from the MIMIC-IV Clinical Database Demo "
        f"2.2 ({p['n']} patients, {a['n']} admissions, {d['n']:,} diagnosis rows, {i['n']} ICU stays, "
        f"{t['n']:,} transfers rows) and stored as aggregates only in "
        "`src/mimic_segments/synthetic/generator_params.json`; the published figures are in "
        "`src/mimic_segments/synthetic/model.py`. This page is rendered from both "
        "(`mimic_segments.synthetic.document`; a test keeps them equal). How the generator uses them: "
        "the docstring of `src/mimic_segments/synthetic/generator.py`.",
        "",
        *_volumes_section(params),
        *_transfers_section(),
        *_severity_section(params, generated),
        "## Fitted distributions",
        "",
        "| distribution | fitted from the demo |",
        "| --- | --- |",
        *(f"| {name} | {value} |" for name, value in rows),
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Measure a generated release's correlations and re-render docs/generator.md"
    )
    parser.add_argument(
        "--patients", type=int, default=364_627, help="patients to generate (default 364,627)"
    )
    parser.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    parser.add_argument("--release", default="3.1", help="release to follow (default 3.1)")
    parser.add_argument("--out", type=Path, default=correlations.GENERATED_PATH, help="JSON to write")
    parser.add_argument("--doc", type=Path, default=DEFAULT_DOC, help="generator page to re-render")
    args = parser.parse_args(argv)
    measured = correlations.measure_generated(args.patients, args.seed, args.release)
    args.out.write_text(json.dumps(measured, indent=1) + "\n")
    args.doc.write_text(render_markdown(load_params(), measured))
    print(
        f"wrote {args.out} and {args.doc}: {measured['patients']:,} admitted patients, "
        f"{measured['indexed_patients']:,} indexed"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
