"""The segmentation report renders from the demo marts, with every figure, deterministically.

The demo's 100 patients all have a hospital admission, so it has only clustered segments; the
rule-defined path (patients never admitted, ~39% of a full release) is rendered from a copy of
the demo database with a rule-defined segment added to the segment marts.
"""

from __future__ import annotations

import base64
import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from markupsafe import escape
from matplotlib.figure import Figure
from matplotlib.text import Text
from synthetic_patients import catalogue

from mimic_segments.reporting import report, report_data, report_figures, report_text, return_curves

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
FIGURES = [
    "segment_sizes",
    "centroid_heatmap",
    "pca",
    "demographic_mix",
    "return_curves",
    "return_curves_overall",
    "lace_per_segment",
    "top_conditions",
    "k_selection",
]
NEVER_ADMITTED = 60  # patients of the rule-defined segment added to the modified copy
# persona names and actions are data: read from the catalogue seed, never written here
CATALOGUE = catalogue()
RULE = CATALOGUE[CATALOGUE["persona_kind"] == "rule_defined"].iloc[0]
RULE_KEY, RULE_NAME = RULE["persona_key"], RULE["persona_name"]
CLUSTERED_ACTIONS = CATALOGUE.loc[CATALOGUE["persona_kind"] == "clustered", "care_management_action"]


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_SIGNATURE
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def card(page: str, kind: str, name: str) -> str:
    """The HTML of the persona card of the given kind ('clustered' or 'rule-defined') and name."""
    match = re.search(
        rf'<div class="card {kind}"[^>]*>\s*<h3>{re.escape(escape(name))}</h3>.*?\n</div>', page, re.S
    )
    assert match, (kind, name)
    return match.group(0)


def population(page: str, key: str) -> str:
    """The number in a population tile: 'registry', 'clustered' or 'rule-defined'."""
    match = re.search(rf"<div class='tile' id='population-{key}'><div class='big'>([\d,]+)</div>", page)
    assert match, key
    return match.group(1)


@pytest.fixture(scope="module")
def rendered(built: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("report")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mimic_segments.reporting.report",
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
    assert "segmentation_report.html" in result.stdout
    return out, (out / report.REPORT_NAME).read_text(encoding="utf-8")


def add_rule_defined_segment(database: Path, weak_segment: str) -> None:
    """Add NEVER_ADMITTED never-admitted patients as the rule-defined segment, as a release has them.

    Rewrites the registry shares of `segments` and `segment_demographic_mix` to match (the
    never-admitted patients' age is 'Unknown', their other attributes follow the admitted
    patients), gives the new segment a few profile rows, and flags ``weak_segment`` as a weak
    persona match.
    """
    with duckdb.connect(str(database)) as connection:
        registry = connection.execute("select sum(num_patients) from marts.segments").fetchone()[0]
        registry += NEVER_ADMITTED
        connection.execute(
            """
            insert into marts.segments (
                segment_key, segment_kind, cluster_id, segment_name, catalogue_persona_name,
                care_management_action, outreach_priority, num_patients, share_of_registry,
                share_of_clustered_population, naming_rule, persona_match_score, runner_up_persona_name,
                persona_match_margin, is_weak_persona_match, early_readmission_rate, top_diagnoses
            )
            select persona_key, 'rule_defined', null, persona_name, persona_name, care_management_action,
                outreach_priority, ?, 0.0, null, 'rule', null, null, null, null, null, null
            from raw.persona_catalogue
            where persona_key = ?
            """,
            [NEVER_ADMITTED, RULE_KEY],
        )
        connection.execute("update marts.segments set share_of_registry = num_patients * 1.0 / ?", [registry])
        connection.execute(
            "update marts.segments set is_weak_persona_match = true where segment_key = ?", [weak_segment]
        )
        connection.executemany(
            "insert into marts.segment_profiles (segment_key, feature_name, statistic, statistic_value)"
            " values (?, ?, ?, ?)",
            [
                [RULE_KEY, "num_admissions", "mean", 0.0],
                [RULE_KEY, "num_admissions", "median", 0.0],
                [RULE_KEY, "num_ed_visits", "mean", 0.75],
                [RULE_KEY, "has_chronic_condition", "rate", 0.0],
            ],
        )
        columns = (
            "segment_key, attribute_name, category, num_patients, share_of_segment, share_of_registry,"
            " share_of_clustered_population"
        )
        connection.execute(
            f"insert into marts.segment_demographic_mix ({columns})"
            " select segment_key, 'age_bucket', 'Unknown', 0, 0.0, 0.0, 0.0 from marts.segments"
            " where segment_kind = 'clustered'"
        )
        connection.execute(
            f"""
            insert into marts.segment_demographic_mix ({columns})
            select ?, attribute_name, category, n, n * 1.0 / ?, 0.0, share_of_clustered_population
            from (
                select distinct
                    attribute_name,
                    category,
                    share_of_clustered_population,
                    case
                        when attribute_name = 'age_bucket' then (category = 'Unknown')::int * ?
                        else round(share_of_clustered_population * ?)
                    end as n
                from marts.segment_demographic_mix
            )
            """,
            [RULE_KEY, NEVER_ADMITTED, NEVER_ADMITTED, NEVER_ADMITTED],
        )
        connection.execute(
            """
            update marts.segment_demographic_mix as m
            set share_of_registry = t.n * 1.0 / ?
            from (
                select attribute_name, category, sum(num_patients) as n
                from marts.segment_demographic_mix
                group by attribute_name, category
            ) as t
            where m.attribute_name = t.attribute_name and m.category = t.category
            """,
            [registry],
        )


@pytest.fixture(scope="module")
def with_rule_defined(
    built: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path, str]:
    """The report of a copy of the demo with a rule-defined segment and cluster_1 a weak match."""
    work = tmp_path_factory.mktemp("rule_defined")
    database = work / "with_rule_defined.duckdb"
    shutil.copyfile(built["MIMIC_SEGMENTS_DEV_DB"], database)
    add_rule_defined_segment(database, weak_segment="cluster_1")
    out = work / "report"
    target = report.write_report(database, out)
    return database, out, target.read_text(encoding="utf-8")


def test_report_has_every_figure_embedded_and_on_disk(rendered) -> None:
    out, page = rendered
    embedded = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)" alt="([^"]+)">', page)
    assert len(embedded) == len(FIGURES)
    for name in FIGURES:
        on_disk = (out / "figures" / f"{name}.png").read_bytes()
        width, height = png_size(on_disk)
        assert width >= 600 and height >= 250, (name, width, height)
        assert on_disk in [base64.b64decode(data) for data, _ in embedded], name
    # self-contained: nothing is loaded from elsewhere
    assert not re.search(r'(src|href)="(?!data:)', page)


def test_report_shows_the_demo_population(rendered, db: duckdb.DuckDBPyConnection) -> None:
    _, page = rendered
    # the demo: 100 registry patients, all admitted, in 4 clustered segments; none rule-defined
    kinds = dict(
        db.execute(
            "select segment_kind, count(*) from marts.patient_segments group by segment_kind"
        ).fetchall()
    )
    assert kinds == {"clustered": 100}
    assert db.execute("select count(*), sum(num_patients) from marts.segments").fetchone() == (4, 100)
    assert (population(page, "registry"), population(page, "clustered")) == ("100", "100")
    assert population(page, "rule-defined") == "0"
    assert "100 registry patients: 100 admitted patients in 4 clustered\nsegments," in page
    assert "no rule-defined segment" in page
    assert 'class="card rule-defined"' not in page
    # sizes table: one row per segment, both shares (equal on the demo)
    for name, n, share in db.execute(
        "select segment_name, num_patients, share_of_registry from marts.segments"
    ).fetchall():
        row = (
            f"<tr><td>{escape(name)}</td><td>clustered</td><td class='num'>{n}</td>"
            f"<td class='num'>{share:.0%}</td><td class='num'>{share:.0%}</td></tr>"
        )
        assert row in page


def test_report_shows_personas_fit_actions_and_diagnostics(rendered, db: duckdb.DuckDBPyConnection) -> None:
    _, page = rendered
    # k = 4 on the demo, as many as the catalogue's clustered personas: each names one segment
    clustered_personas = [
        name
        for (name,) in db.execute(
            "select persona_name from raw.persona_catalogue where persona_kind = 'clustered'"
        ).fetchall()
    ]
    segments = db.execute(
        "select segment_key, segment_name, care_management_action, persona_match_score,"
        " runner_up_persona_name, persona_match_margin, is_weak_persona_match from marts.segments"
    ).fetchall()
    assert sorted(s[1] for s in segments) == sorted(clustered_personas)
    for key, name, action, score, runner_up, margin, weak in segments:
        text = card(page, "clustered", name)
        assert f"<code>{key}</code>" in text
        assert f"Suggested action: {escape(action)}" in text
        assert -1.0 <= score <= 1.0
        assert f"Persona fit {score:+.2f} (cosine similarity, -1 to 1)" in text
        assert escape(f"runner-up: {runner_up}, margin {margin:+.2f}") in text
        assert ("<strong>Weak match:</strong>" in text) == weak
        if weak:
            assert "persona_min_match_score" in text and "before acting on the persona" in text
    weak_count = sum(s[-1] for s in segments)
    assert weak_count >= 1  # the demo has weak fits (see test_segmentation_end_to_end)
    assert page.count("<strong>Weak match:</strong>") == weak_count
    assert f"{weak_count} of 4 clustered segments have a weak persona match" in page
    # no wording left from the unnormalised dot-product fit or a fixed number of personas
    for stale in ["fit to the persona's profile", "(strong)", "(moderate)", "four personas"]:
        assert stale not in page
    for action in CLUSTERED_ACTIONS:
        assert f"Suggested action: {action}" in page
    # one diagnostics row per k, the chosen one highlighted
    assert page.count("<tr class='chosen'>") == 1
    assert len(re.findall(r"<tr class='(?:chosen)?'><td class='num'>\d+</td>", page)) == 7
    top = db.execute(
        "select segment_key, long_title from marts.segment_top_diagnoses where diagnosis_rank = 1"
    ).fetchall()
    assert len(top) == 4
    for _, title in top:
        assert escape(title) in page
    # the demo's k = 4 fails the stability rule: the report says so in plain words
    assert "Caution:" in page
    # which build it shows, and that the demo raised no data-quality warning
    build_id, failed = db.execute(
        "select (select build_id from marts.build_metadata),"
        " (select count(*) from marts.data_quality_checks where not has_passed)"
    ).fetchone()
    assert f"<tr><td>Build</td><td>{build_id}</td></tr>" in page
    assert failed == 0 and "Every data-quality check passed." in page


def test_report_shows_lace_per_segment(rendered, db: duckdb.DuckDBPyConnection) -> None:
    """Each segment's patients by LACE band of their last index discharge, read from
    segment_lace_bands, with the mean score of the scored and their index discharges."""
    _, page = rendered
    assert "<h2>LACE readmission risk per segment</h2>" in page
    bands = db.execute(
        "select * from marts.segment_lace_bands order by segment_key, lace_risk_band_order"
    ).df()
    # the demo: 95 of the 100 patients have an index discharge; 217 discharges in all
    assert int(bands.loc[bands["lace_risk_band"] != "none", "num_patients"].sum()) == 95
    assert int(bands["num_index_discharges"].sum()) == 217
    for key, rows in bands.groupby("segment_key"):
        scored = rows[rows["lace_risk_band"] != "none"]
        mean = (scored["mean_lace_score"].fillna(0) * scored["num_patients"]).sum() / scored[
            "num_patients"
        ].sum()
        row = (
            f"<tr><td>{escape(rows['segment_name'].iloc[0])}</td>"
            f"<td class='num'>{int(rows['num_patients'].sum())}</td>"
            + "".join(
                f"<td class='num'>{report_text.pct(share)}</td>"
                for share in rows["share_of_segment_patients"]
            )
            + f"<td class='num'>{mean:.1f}</td>"
            + f"<td class='num'>{int(scored['num_index_discharges'].sum())}</td></tr>"
        )
        assert row in page, key


def test_report_is_identical_on_rerun(rendered, built: dict[str, str], tmp_path: Path) -> None:
    out, page = rendered
    again = report.write_report(Path(built["MIMIC_SEGMENTS_DEV_DB"]), tmp_path)
    assert again.read_text(encoding="utf-8") == page
    for name in FIGURES:
        assert (tmp_path / "figures" / f"{name}.png").read_bytes() == (
            out / "figures" / f"{name}.png"
        ).read_bytes()


def test_rule_defined_segment_gets_population_share_and_its_own_card(
    with_rule_defined, rendered, built: dict[str, str]
) -> None:
    database, out, page = with_rule_defined
    registry = 100 + NEVER_ADMITTED
    assert population(page, "registry") == str(registry)
    assert population(page, "clustered") == "100"
    assert population(page, "rule-defined") == str(NEVER_ADMITTED)
    assert f"{NEVER_ADMITTED / registry:.0%} of the registry, in 1 rule-defined segment" in page
    assert f"{100 / registry:.0%} of the registry, in 4 clustered segments" in page
    assert f"and {NEVER_ADMITTED} patients never admitted in 1 rule-defined segment" in page
    assert (
        f"<tr><td>{RULE_NAME}</td><td>rule-defined</td><td class='num'>{NEVER_ADMITTED}</td>"
        f"<td class='num'>{NEVER_ADMITTED / registry:.0%}</td><td class='num'>&ndash;</td></tr>"
    ) in page

    rule = card(page, "rule-defined", RULE_NAME)
    assert f"Not clustered: defined by a rule (<code>{RULE['segment_rule']}</code>)" in rule
    assert f"Suggested action: {escape(RULE['care_management_action'])}" in rule
    assert f"{NEVER_ADMITTED} patients ({NEVER_ADMITTED / registry:.0%} of registry; not clustered)" in rule
    assert "<td>ED visits (mean)</td><td class='num'>0.8</td>" in rule
    for absent in ["Persona fit", "Stands out for", "Weak match", "runner-up", "Died in hospital"]:
        assert absent not in rule
    # clustered segments show both shares, and the card order is clustered first
    with duckdb.connect(str(database), read_only=True) as connection:
        clustered = connection.execute(
            "select segment_name, num_patients, share_of_registry, share_of_clustered_population,"
            " is_weak_persona_match from marts.segments where segment_kind = 'clustered'"
        ).fetchall()
    for name, n, registry_share, clustered_share, _ in clustered:
        assert registry_share < clustered_share
        text = card(page, "clustered", name)
        assert f"{n} patients ({registry_share:.0%} of registry, {clustered_share:.0%} of clustered)" in text
    assert page.index('class="card rule-defined"') > page.rindex('class="card clustered"')
    # the flipped segment is now flagged too
    weak = [name for name, *_, is_weak in clustered if is_weak]
    assert page.count("<strong>Weak match:</strong>") == len(weak) >= 2
    for name in weak:
        assert "<strong>Weak match:</strong>" in card(page, "clustered", name)

    # the clustering figures stay on the admitted patients (drawn with the demo's labels, they
    # are the demo's: only cluster_1's weak mark may differ); sizes and mix gain the new rows
    demo_out, _ = rendered
    assert (out / "figures" / "k_selection.png").read_bytes() == (
        demo_out / "figures" / "k_selection.png"
    ).read_bytes()
    data = report_data.load_report_data(database)
    demo = report_data.load_report_data(Path(built["MIMIC_SEGMENTS_DEV_DB"]))
    demo_labels = report_figures.cluster_labels(demo.segments)
    heatmap = report_figures.figure_centroid_heatmap(data.centroids, demo_labels)
    assert report_figures.figure_png(heatmap) == (demo_out / "figures" / "centroid_heatmap.png").read_bytes()
    pca, _ = report_figures.figure_pca(data.patients, data.centroids, demo_labels)
    assert report_figures.figure_png(pca) == (demo_out / "figures" / "pca.png").read_bytes()
    for name in ["segment_sizes", "demographic_mix"]:
        _, height = png_size((out / "figures" / f"{name}.png").read_bytes())
        _, demo_height = png_size((demo_out / "figures" / f"{name}.png").read_bytes())
        assert height > demo_height, name


def test_demographic_mix_and_sizes_figures_draw_every_segment(with_rule_defined) -> None:
    database, _, _ = with_rule_defined
    data = report_data.load_report_data(database)
    assert list(data.segments["segment_kind"]) == ["clustered"] * 4 + ["rule_defined"]
    assert data.segment_names[RULE_KEY] == RULE_NAME
    assert sorted(data.cluster_names) == [0, 1, 2, 3]
    sizes = report_figures.figure_segment_sizes(data.segments)
    labels = [t.get_text() for t in sizes.axes[0].get_yticklabels()]
    assert labels[0] == f"{RULE_NAME} (rule-defined)"  # bottom bar: the rule-defined one
    mix = report_figures.figure_demographic_mix(data.demographic_mix, data.segments)
    rows = [t.get_text() for t in mix.axes[0].get_yticklabels()]
    labels = report_figures.figure_labels(data.segments)
    assert rows == [
        "All patients (registry)",
        "Admitted patients (clustered)",
        *[labels[key] for key in data.clustered["segment_key"]],
        f"{RULE_NAME} (rule-defined)",
    ]
    legend = [t.get_text() for t in mix.axes[0].get_legend().get_texts()]
    assert "Unknown (never admitted)" in legend


def figure_texts(fig: Figure) -> list[str]:
    """Every text a figure draws: titles, tick labels, legends, colour bars, annotations."""
    return [t.get_text() for t in fig.findobj(Text) if t.get_text()]


def test_figures_mark_weak_matches(with_rule_defined) -> None:
    """Every figure that names a segment puts "(weak match)" after the name of each weakly matched
    clustered segment, and after no other name."""
    database, _, page = with_rule_defined
    data = report_data.load_report_data(database)
    weak = data.segments["is_weak_persona_match"].fillna(False).astype(bool)
    assert weak.sum() >= 2 and not weak.all()
    mark = report_figures.WEAK_MARK
    expected = {
        key: f"{name}{mark}" if flag else name
        for key, name, flag in zip(
            data.segments["segment_key"], data.segments["segment_name"], weak, strict=True
        )
    }
    assert report_figures.figure_labels(data.segments) == expected
    clustered = {
        int(c): expected[k]
        for c, k in zip(data.clustered["cluster_id"], data.clustered["segment_key"], strict=True)
    }
    assert report_figures.cluster_labels(data.segments) == clustered

    def marked(texts: list[str]) -> int:
        return sum(text.replace("\n", " ").count(mark.strip()) for text in texts)

    sizes = report_figures.figure_segment_sizes(data.segments)
    ticks = [t.get_text() for t in sizes.axes[0].get_yticklabels()]
    assert sorted(ticks) == sorted(
        label if kind == "clustered" else f"{label} (rule-defined)"
        for label, kind in zip(expected.values(), data.segments["segment_kind"], strict=True)
    )
    heatmap = report_figures.figure_centroid_heatmap(data.centroids, clustered)
    pca, _ = report_figures.figure_pca(data.patients, data.centroids, clustered)
    lace = report_figures.figure_lace_per_segment(data.lace_bands, data.segments)
    mix = report_figures.figure_demographic_mix(data.demographic_mix, data.segments)
    curves = return_curves.figure_return_curves(
        data.return_curves,
        report_figures.segment_colours(data.segments),
        list(data.segments["segment_key"]),
        report_figures.figure_labels(data.segments),
    )
    for name, axes in [
        ("sizes", sizes.axes[:1]),
        ("heatmap", heatmap.axes[:1]),
        ("lace", lace.axes[:1]),
        ("mix", mix.axes[:1]),
    ]:
        ticks = [t.get_text() for ax in axes for t in ax.get_yticklabels() + ax.get_xticklabels()]
        assert marked(ticks) == weak.sum(), name
    assert marked([t.get_text() for t in pca.axes[0].get_legend().get_texts()]) == weak.sum()
    # the return curves: one panel per segment with curves, titled by its label
    with_curves = set(data.return_curves["segment_key"])
    titled = [ax.get_title(loc="left") for ax in curves.axes]
    assert marked(titled) == sum(
        flag for key, flag in zip(data.segments["segment_key"], weak, strict=True) if key in with_curves
    )
    # the captions say what the mark means
    assert escape("(weak match)\u201d: the segment's centre fits its persona below 0.50") in page


def test_figures_use_plain_words_for_the_scale(rendered, built: dict[str, str], monkeypatch) -> None:
    """No figure says log1p or speaks of transforms; the heatmap's colour bar reads from below
    average to above average, in standard deviations."""
    drawn: list[Figure] = []

    def keep(fig: Figure) -> bytes:
        drawn.append(fig)
        return b""

    monkeypatch.setattr(report_figures, "figure_png", keep)
    data = report_data.load_report_data(Path(built["MIMIC_SEGMENTS_DEV_DB"]))
    figures = report_figures.build_figures(data)
    assert [f.name for f in figures] == FIGURES
    for figure, fig in zip(figures, drawn, strict=True):
        for text in figure_texts(fig):
            assert not re.search(r"log1p|transform|log scale", text, re.I), (figure.name, text)
    heatmap = drawn[FIGURES.index("centroid_heatmap")]
    colour_bar = heatmap.axes[-1]
    label = colour_bar.get_ylabel()
    assert "below average" in label and "above average" in label and "standard deviations" in label
    assert "average" in [t.get_text() for t in colour_bar.get_yticklabels()]
    _, page = rendered
    assert "log1p" not in page.split("<h2>What sets each clustered segment apart</h2>")[1].split("<h2>")[0]


def test_top_conditions_have_one_panel_per_segment_led_by_its_first_category(built: dict[str, str]) -> None:
    """The conditions figure: a panel per segment, its bars the segment's top CCSR categories in
    rank order (the first at the top), labelled with the category code."""
    data = report_data.load_report_data(Path(built["MIMIC_SEGMENTS_DEV_DB"]))
    fig = report_figures.figure_top_conditions(data.top_conditions, data.segments)
    segments = data.top_conditions["segment_key"].unique()
    assert len(fig.axes) == len(segments) == 4
    for ax, key in zip(
        fig.axes, [k for k in data.segments["segment_key"] if k in set(segments)], strict=True
    ):
        first = data.top_conditions.query("segment_key == @key and condition_rank == 1")
        labels = [t.get_text() for t in ax.get_yticklabels()]
        assert labels[-1].startswith(first["ccsr_category_code"].iloc[0])
        assert len(labels) == min(
            report_figures.CONDITIONS_SHOWN, (data.top_conditions["segment_key"] == key).sum()
        )


def test_return_curves_have_one_panel_per_segment(built: dict[str, str]) -> None:
    data = report_data.load_report_data(Path(built["MIMIC_SEGMENTS_DEV_DB"]))
    keys = list(data.segments["segment_key"])
    labels = report_figures.figure_labels(data.segments)
    fig = return_curves.figure_return_curves(
        data.return_curves, report_figures.segment_colours(data.segments), keys, labels
    )
    assert len(fig.axes) == len(keys) == 4
    first = fig.axes[0]
    primary = data.return_curves[
        data.return_curves["end_of_data_assumption"] == return_curves.PRIMARY_ASSUMPTION
    ]
    for ax, key in zip(fig.axes, keys, strict=True):
        assert ax.get_title(loc="left").replace("\n", " ").startswith(labels[key].split()[0])
        assert ax.get_shared_x_axes().joined(ax, first) and ax.get_shared_y_axes().joined(ax, first)
        # the segment's curve in its colour, all patients' in grey behind it
        colours = [line.get_color() for line in ax.get_lines()]
        assert colours == ["#9A9A9A", report_figures.segment_colours(data.segments)[key]]
        # the share back by day 30, 90 and 365, as the mart has it
        curve = primary[primary["segment_key"] == key].set_index("follow_up_day")
        box = " ".join(t.get_text() for t in ax.texts)
        for day in return_curves.PANEL_DAYS:
            share = 100 * float(curve.loc[day, "cumulative_incidence_return"])
            assert f"day {day}: {share:.0f} %" in box, (key, day)
    overall = return_curves.figure_return_overall(data.return_curves)
    assert len(overall.axes) == 1


def test_persona_fit_notes() -> None:
    segment = pd.Series(
        {
            "segment_name": "Persona A",
            "persona_match_score": 0.31,
            "runner_up_persona_name": "Persona B",
            "persona_match_margin": -0.2,
            "is_weak_persona_match": True,
        }
    )
    note = report_text.persona_fit_note(segment)
    assert note.startswith("Persona fit +0.31 (cosine similarity, -1 to 1); runner-up: Persona B")
    assert "margin -0.20 (negative: the runner-up fits this segment better" in note
    warning = report_text.weak_match_text(segment)
    assert "fit +0.31 is below var persona_min_match_score" in warning
    assert "Read the segment's profile" in warning
    narrow = segment.copy()
    narrow["persona_match_margin"] = 0.04
    narrow_note = report_text.persona_fit_note(narrow)
    assert "(narrow: two personas describe this segment about equally)" in narrow_note
    strong = segment.copy()
    strong["is_weak_persona_match"] = False
    strong["persona_match_margin"] = 0.5
    assert report_text.weak_match_text(strong) == ""
    assert report_text.persona_fit_note(strong).endswith("margin +0.50.")
    for missing in [None, np.nan]:
        strong["is_weak_persona_match"] = missing
        assert report_text.weak_match_text(strong) == ""


def test_pivot_profiles_makes_statistic_feature_columns() -> None:
    long = pd.DataFrame(
        {
            "segment_key": ["cluster_0", "cluster_0", "cluster_1", RULE_KEY],
            "feature_name": ["num_admissions", "in_hospital_death", "num_admissions", "num_admissions"],
            "statistic": ["mean", "rate", "mean", "mean"],
            "statistic_value": [1.5, 0.1, 3.0, 0.0],
        }
    )
    wide = report_data.pivot_profiles(long)
    assert list(wide.columns) == ["segment_key", "mean_num_admissions", "rate_in_hospital_death"]
    assert wide.set_index("segment_key").loc["cluster_1", "mean_num_admissions"] == 3.0
    assert np.isnan(wide.set_index("segment_key").loc[RULE_KEY, "rate_in_hospital_death"])


def test_missing_database_or_marts_say_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(report_data.ReportError, match="make build"):
        report_data.load_report_data(tmp_path / "missing.duckdb")
    empty = tmp_path / "empty.duckdb"
    duckdb.connect(str(empty)).close()
    with pytest.raises(report_data.ReportError, match=r"marts \['segmentation_diagnostics'.*are missing"):
        report_data.load_report_data(empty)
    assert report.main(["--database", str(tmp_path / "missing.duckdb"), "--out", str(tmp_path)]) == 1
    # a database built before segment_profiles went long: rebuild, rather than a KeyError
    old = tmp_path / "old.duckdb"
    with duckdb.connect(str(old)) as connection:
        connection.execute("create schema marts")
        for table in report_data.REQUIRED_TABLES:
            if table != "segment_profiles":
                connection.execute(f"create table marts.{table} (segment_key varchar)")
        connection.execute(
            "create table marts.segment_profiles (cluster_id integer, share_of_patients double)"
        )
    with pytest.raises(report_data.ReportError, match=r"segment_profiles is not the long .*make build"):
        report_data.load_report_data(old)


def test_pca_projection_samples_large_populations() -> None:
    rng = np.random.default_rng(0)
    n, features = 3_000, ["num_admissions", "icu_stay_count"]
    patients = pd.DataFrame(
        {
            "subject_id": np.arange(n),
            "cluster_id": rng.integers(0, 2, n),
            "scaled_num_admissions": rng.normal(size=n),
            "scaled_icu_stay_count": rng.normal(size=n),
        }
    )
    centroids = pd.DataFrame(
        {
            "cluster_id": [0, 0, 1, 1],
            "feature_name": features * 2,
            "feature_position": [1, 2, 1, 2],
            "centroid_scaled": [-1.0, -1.0, 1.0, 1.0],
            "centroid_original_units": [1.0, 0.0, 5.0, 2.0],
        }
    )
    points, centres, explained, total = report_figures.pca_projection(patients, centroids, max_points=500)
    assert len(points) == 500 and total == n
    assert explained.shape == (2,) and centres.shape == (2, 2)
    # oriented so that the higher-need centroid lies to the right
    assert centres[1, 0] > centres[0, 0]
    again = report_figures.pca_projection(patients, centroids, max_points=500)[0]
    pd.testing.assert_frame_equal(points, again)
