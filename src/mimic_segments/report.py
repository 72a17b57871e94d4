"""The segmentation report: one self-contained HTML page with PNG figures, from the marts.

``python -m mimic_segments.report [--database PATH] [--out reports]`` (``make report``) opens
the DuckDB file read-only, reads the segmentation marts and writes
``<out>/segmentation_report.html`` (figures embedded as data URIs, so the one file can be
mailed or attached) and the same figures as ``<out>/figures/*.png``.

The figures, for a care-management lead rather than a data scientist first:

- segment sizes (how many patients each persona covers);
- a card per persona: its suggested action, key numbers and most common diagnoses;
- the centroid heatmap (how each segment differs from the average patient, in standard
  deviations, with the typical value in the feature's own units);
- the patients on the first two principal components, coloured by segment;
- the demographic mix per segment next to the whole population (for equity review);
- the k-selection curves and the diagnostics table (why this many segments).

Figures are drawn with matplotlib's object-oriented API on the Agg canvas (no display, no
global pyplot state) and are deterministic for a given database.
"""

from __future__ import annotations

import argparse
import base64
import html
import io
import os
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import duckdb
import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.decomposition import PCA

matplotlib.use("Agg")

DEFAULT_DATABASE = "mimic_segments.duckdb"
DEFAULT_OUT = Path("reports")
REPORT_NAME = "segmentation_report.html"
PCA_MAX_POINTS = 20_000
RANDOM_STATE = 42
DEMOGRAPHIC_MAX_CATEGORIES = 6

# Okabe-Ito: distinguishable with the common colour-vision deficiencies; grey is kept last.
SEGMENT_COLOURS = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]

FEATURE_LABELS = {
    "num_admissions": "Admissions",
    "avg_length_of_stay_days": "Avg stay (days)",
    "total_length_of_stay_days": "Total hospital days",
    "num_unique_icd_diagnoses": "Distinct diagnoses",
    "icu_stay_count": "ICU stays",
    "total_icu_days": "Total ICU days",
    "emergency_admission_share": "Emergency admissions (share)",
    "readmissions_30d": "30-day readmissions",
    "ed_visit_count": "ED visits",
    "charlson_condition_score": "Charlson conditions score",
    "charlson_comorbidity_index": "Charlson index",
    "num_chronic_conditions": "Chronic conditions",
    "days_since_last_admission": "Days since last admission",
    "age_at_last_admission": "Age at last admission",
    "age_years": "Age (years)",
    "is_female": "Female (share)",
}

REQUIRED_TABLES = (
    "segmentation_diagnostics",
    "segment_centroids",
    "segment_personas",
    "segment_profiles",
    "segment_top_diagnoses",
    "segment_demographic_mix",
    "patient_clusters",
)


class ReportError(Exception):
    """The database lacks what the report needs."""


@dataclass(frozen=True, eq=False)
class ReportData:
    """Everything the report shows, read from the marts."""

    diagnostics: pd.DataFrame
    centroids: pd.DataFrame
    profiles: pd.DataFrame
    top_diagnoses: pd.DataFrame
    demographic_mix: pd.DataFrame
    patients: pd.DataFrame
    catalogue: pd.DataFrame

    @property
    def segment_names(self) -> dict[int, str]:
        return dict(zip(self.profiles["cluster_id"], self.profiles["persona_name"], strict=True))


def feature_label(name: str) -> str:
    return FEATURE_LABELS.get(name, name.replace("_", " ").capitalize())


CATEGORY_LABELS = {"F": "Female", "M": "Male"}


def category_label(category: str) -> str:
    """Legend text for a demographic category: MIMIC's upper-case values in title case."""
    if category in CATEGORY_LABELS:
        return CATEGORY_LABELS[category]
    return category.title() if category.isupper() else category


def segment_colour(cluster_id: int) -> str:
    return SEGMENT_COLOURS[int(cluster_id) % len(SEGMENT_COLOURS)]


def load_report_data(database: Path) -> ReportData:
    """Read the marts through a read-only connection (a BI tool may hold the file open)."""
    if not database.is_file():
        raise ReportError(f"{database}: database not found; build it first with `make build`")
    with duckdb.connect(str(database), read_only=True) as connection:
        present = {
            row[0]
            for row in connection.execute(
                "select table_name from information_schema.tables where table_schema = 'marts'"
            ).fetchall()
        }
        missing = [t for t in REQUIRED_TABLES if t not in present]
        if missing:
            raise ReportError(f"{database}: marts {missing} are missing; run `make build` first")

        def read(sql: str) -> pd.DataFrame:
            return connection.execute(sql).df()

        return ReportData(
            diagnostics=read("select * from marts.segmentation_diagnostics order by k"),
            centroids=read("select * from marts.segment_centroids order by cluster_id, feature_position"),
            profiles=read(
                "select p.*, s.persona_match_score from marts.segment_profiles as p"
                " inner join marts.segment_personas as s on p.cluster_id = s.cluster_id order by p.cluster_id"
            ),
            top_diagnoses=read(
                "select * from marts.segment_top_diagnoses order by cluster_id, diagnosis_rank"
            ),
            demographic_mix=read(
                "select * from marts.segment_demographic_mix order by cluster_id, attribute_name, category"
            ),
            patients=read("select * from marts.patient_clusters order by subject_id"),
            catalogue=read("select * from raw.persona_catalogue order by catalogue_order"),
        )


# --- figures ----------------------------------------------------------------------------


def figure_segment_sizes(profiles: pd.DataFrame) -> Figure:
    """Horizontal bars: patients per segment, labelled with count and share."""
    ordered = profiles.sort_values("cluster_id", ascending=False)
    fig = Figure(figsize=(9, 0.7 * len(ordered) + 1.4), layout="constrained")
    ax = fig.add_subplot()
    bars = ax.barh(
        ordered["persona_name"],
        ordered["num_patients"],
        color=[segment_colour(c) for c in ordered["cluster_id"]],
    )
    for bar, (n, share) in zip(bars, ordered[["num_patients", "share_of_patients"]].to_numpy(), strict=True):
        ax.annotate(
            f" {int(n):,} patients ({share:.0%})",
            (bar.get_width(), bar.get_y() + bar.get_height() / 2),
            va="center",
            fontsize=11,
        )
    ax.set_xlim(0, ordered["num_patients"].max() * 1.45)
    ax.set_xlabel("Patients")
    ax.set_title("How many patients each segment covers", loc="left", fontsize=13, fontweight="bold")
    ax.tick_params(axis="y", labelsize=11)
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def centroid_matrices(centroids: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Standardized and original-unit centroids, one row per segment, one column per feature."""
    order = centroids.drop_duplicates("feature_name").sort_values("feature_position")["feature_name"].tolist()
    scaled = centroids.pivot(index="cluster_id", columns="feature_name", values="centroid_scaled")[order]
    original = centroids.pivot(index="cluster_id", columns="feature_name", values="centroid_original_units")[
        order
    ]
    return scaled, original


def _wrap(text: str, width: int = 18) -> str:
    return "\n".join(textwrap.wrap(text, width)) or text


def _typical_value(feature: str, value: float) -> str:
    return f"{value:.0%}" if feature.endswith("_share") else f"{value:,.1f}"


def figure_centroid_heatmap(centroids: pd.DataFrame, names: dict[int, str]) -> Figure:
    """Features x segments: standardized centroid as colour, typical value in own units as text."""
    scaled, original = centroid_matrices(centroids)
    scaled, original = scaled.T, original.T  # one row per feature reads better than a wide strip
    limit = max(1.0, float(np.nanmax(np.abs(scaled.to_numpy()))))
    fig = Figure(figsize=(2.3 * scaled.shape[1] + 4.6, 0.62 * scaled.shape[0] + 2.4), layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(scaled.to_numpy(), cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
    ax.set_yticks(range(scaled.shape[0]), [feature_label(f) for f in scaled.index])
    ax.set_xticks(range(scaled.shape[1]), [_wrap(names[c]) for c in scaled.columns])
    ax.xaxis.tick_top()
    ax.tick_params(labelsize=10.5, length=0)
    for row, feature in enumerate(scaled.index):
        for col in range(scaled.shape[1]):
            z = scaled.iat[row, col]
            deviation = "0.0" if round(z, 1) == 0 else f"{z:+.1f}"  # no "-0.0" or "+0.0"
            ax.text(
                col,
                row,
                f"{deviation} SD  ({_typical_value(feature, original.iat[row, col])})",
                ha="center",
                va="center",
                fontsize=10,
                color="white" if abs(z) > 0.55 * limit else "black",
            )
    bar = fig.colorbar(image, ax=ax, shrink=0.8, pad=0.02)
    bar.set_label("SD from the average patient (log1p scale where applied)")
    ax.set_title(
        "What sets each segment apart: each segment's centre per feature\n"
        "(colour and number: SD from the average patient; in brackets: typical value)",
        loc="left",
        fontsize=12,
    )
    return fig


def pca_projection(
    patients: pd.DataFrame, centroids: pd.DataFrame, max_points: int = PCA_MAX_POINTS
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, int]:
    """PCA (2 components) fitted on every patient's standardized values.

    Returns the points to draw (a fixed-seed sample of at most ``max_points`` patients, with
    ``pc1``, ``pc2`` and ``cluster_id``), the projected centroids (by ``cluster_id``), the
    explained variance ratios and the number of patients in all.
    """
    scaled, _ = centroid_matrices(centroids)
    columns = [f"scaled_{f}" for f in scaled.columns]
    matrix = patients[columns].to_numpy(dtype="float64")
    pca = PCA(n_components=2, random_state=RANDOM_STATE).fit(matrix)
    # PCA's sign is arbitrary: orient each axis so that higher-need segments sit to the
    # right and top (positive correlation with the mean standardized value).
    intensity = matrix.mean(axis=1)
    projected = pca.transform(matrix)
    signs = np.array([1.0 if np.corrcoef(projected[:, i], intensity)[0, 1] >= 0 else -1.0 for i in range(2)])
    projected = projected * signs
    centres = pca.transform(scaled.to_numpy()) * signs
    points = pd.DataFrame(
        {"pc1": projected[:, 0], "pc2": projected[:, 1], "cluster_id": patients["cluster_id"]}
    )
    if len(points) > max_points:
        points = points.sample(n=max_points, random_state=RANDOM_STATE).sort_index()
    return points, centres, pca.explained_variance_ratio_, len(patients)


def figure_pca(patients: pd.DataFrame, centroids: pd.DataFrame, names: dict[int, str]) -> tuple[Figure, str]:
    """Patients on the first two principal components, coloured by segment; and a caption."""
    points, centres, explained, total = pca_projection(patients, centroids)
    fig = Figure(figsize=(9.5, 7), layout="constrained")
    ax = fig.add_subplot()
    for cluster_id in sorted(points["cluster_id"].unique()):
        members = points[points["cluster_id"] == cluster_id]
        ax.scatter(
            members["pc1"],
            members["pc2"],
            s=28 if len(points) <= 2_000 else 6,
            alpha=0.75 if len(points) <= 2_000 else 0.35,
            color=segment_colour(cluster_id),
            edgecolors="white" if len(points) <= 2_000 else "none",
            linewidths=0.4,
            label=f"{names[cluster_id]} ({int((patients['cluster_id'] == cluster_id).sum()):,})",
        )
    for cluster_id, (x, y) in enumerate(centres):
        ax.scatter(
            x, y, marker="X", s=260, color=segment_colour(cluster_id), edgecolors="black", linewidths=1.3
        )
    ax.set_xlabel(f"Principal component 1 ({explained[0]:.0%} of variance): higher = more care needs")
    ax.set_ylabel(f"Principal component 2 ({explained[1]:.0%} of variance)")
    ax.set_title("Patients by segment (X = segment centroid)", loc="left", fontsize=13, fontweight="bold")
    ax.legend(loc="best", fontsize=10, frameon=True, framealpha=0.9)
    ax.grid(alpha=0.25)
    ax.spines[["top", "right"]].set_visible(False)
    shown = len(points)
    caption = (
        f"All {total:,} patients, projected with PCA on the standardized clustering features "
        f"({explained.sum():.0%} of the variance in two dimensions). Segments that overlap here "
        "differ along directions this view cannot show: see the heatmap."
        if shown == total
        else f"A fixed random sample of {shown:,} of {total:,} patients is drawn; "
        "the PCA is fitted on all of them."
    )
    return fig, caption


def figure_k_selection(diagnostics: pd.DataFrame, min_stability: float, min_share: float) -> Figure:
    """The diagnostics per k: six small panels, the chosen k highlighted, one shared legend."""
    panels = [
        ("silhouette", "Silhouette (higher = better separated)", None),
        ("stability_mean_ari", "Stability: mean bootstrap ARI (higher = steadier)", min_stability),
        ("smallest_cluster_share", "Smallest segment's share of patients", min_share),
        ("inertia", "Inertia (look for the elbow)", None),
        ("calinski_harabasz", "Calinski-Harabasz (higher = better)", None),
        ("davies_bouldin", "Davies-Bouldin (lower = better)", None),
    ]
    fig = Figure(figsize=(13, 8), layout="constrained")
    axes = fig.subplots(2, 3)
    chosen_row = diagnostics[diagnostics["is_chosen"]].iloc[0]
    chosen = int(chosen_row["k"])
    auto = int(diagnostics.loc[diagnostics["is_auto_choice"], "k"].iloc[0])
    for ax, (column, title, threshold) in zip(axes.flat, panels, strict=True):
        if column == "stability_mean_ari":
            ax.fill_between(
                diagnostics["k"],
                diagnostics["stability_min_ari"],
                diagnostics["stability_mean_ari"],
                color="#999999",
                alpha=0.25,
                label="stability: range down to the worst refit",
            )
        ax.plot(diagnostics["k"], diagnostics[column], marker="o", color="#444444", linewidth=1.8)
        chosen_value = diagnostics.loc[diagnostics["k"] == chosen, column].iloc[0]
        ax.scatter([chosen], [chosen_value], s=170, color="#D55E00", zorder=3, label=f"k used: {chosen}")
        if auto != chosen:
            auto_value = diagnostics.loc[diagnostics["k"] == auto, column].iloc[0]
            ax.scatter(
                [auto],
                [auto_value],
                s=170,
                facecolors="none",
                edgecolors="#0072B2",
                linewidths=2.4,
                zorder=3,
                label=f"the auto rule's pick: {auto}",
            )
        if threshold is not None:
            ax.axhline(
                threshold, color="#0072B2", linestyle="--", linewidth=1.3, label="auto rule's threshold"
            )
        if column == "smallest_cluster_share":
            ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
            ax.set_ylim(bottom=0)
        ax.set_title(title, fontsize=11, loc="left")
        ax.set_xticks(diagnostics["k"].tolist())
        ax.set_xlabel("k (number of segments)")
        ax.grid(alpha=0.3)
        ax.spines[["top", "right"]].set_visible(False)
    handles, labels = axes.flat[1].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=4, fontsize=10, frameon=False)
    sample = int(chosen_row["fit_sample_size"])
    decision = (
        f"k = {chosen} chosen by the auto rule"
        if chosen_row["selection_mode"] == "auto"
        else f"k = {chosen} fixed by configuration; the auto rule would pick {auto}"
        if auto != chosen
        else f"k = {chosen} fixed by configuration, as the auto rule would pick"
    )
    fig.suptitle(
        f"Choosing the number of segments: {decision}  (each k fitted on {sample:,} patients)",
        fontsize=13,
        fontweight="bold",
    )
    return fig


def figure_demographic_mix(mix: pd.DataFrame, names: dict[int, str]) -> Figure:
    """Per attribute, stacked bars of each segment's mix next to the whole population."""
    attributes = ["age_bucket", "gender", "insurance", "race"]
    titles = {
        "age_bucket": "Age at last admission",
        "gender": "Gender",
        "insurance": "Insurance",
        "race": "Race",
    }
    segments = sorted(mix["cluster_id"].unique())
    rows = ["All patients", *[names[c] for c in segments]]
    fig = Figure(figsize=(15, 0.55 * len(rows) * 2 + 3.2), layout="constrained")
    axes = fig.subplots(2, 2, sharey=True)
    # Category colours deliberately differ from the segment colours used everywhere else.
    palette = ["#4E79A7", "#A0CBE8", "#F28E2B", "#FFBE7D", "#59A14F", "#8CD17D", "#BAB0AC"]
    ordered_palette = ["#DEEBF7", "#9ECAE1", "#4292C6", "#08519C", "#08306B"]
    for ax, attribute in zip(axes.flat, attributes, strict=True):
        part = mix[mix["attribute_name"] == attribute]
        population = part.drop_duplicates("category").set_index("category")["share_of_population"]
        ranked = population.sort_values(ascending=False, kind="mergesort")
        if attribute == "age_bucket":
            ranked = population.sort_index()
        keep = ranked.index[:DEMOGRAPHIC_MAX_CATEGORIES].tolist()
        if len(ranked) > DEMOGRAPHIC_MAX_CATEGORIES:
            keep = ranked.index[: DEMOGRAPHIC_MAX_CATEGORIES - 1].tolist()
        other = "Smaller groups"
        shares = pd.DataFrame(index=rows, columns=[*keep, other], dtype="float64").fillna(0.0)
        shares.loc["All patients", keep] = population[keep].to_numpy()
        for cluster_id in segments:
            segment = part[part["cluster_id"] == cluster_id].set_index("category")["share_of_segment"]
            shares.loc[names[cluster_id], keep] = segment.reindex(keep).fillna(0.0).to_numpy()
        shares[other] = (1.0 - shares[keep].sum(axis=1)).clip(lower=0.0)
        if shares[other].max() < 1e-9:
            shares = shares.drop(columns=other)
        left = np.zeros(len(rows))
        positions = np.arange(len(rows))[::-1]
        for index, category in enumerate(shares.columns):
            values = shares[category].to_numpy()
            if category == other:
                colour = palette[-1]
            elif attribute == "age_bucket":
                colour = ordered_palette[index % len(ordered_palette)]
            else:
                colour = palette[index % (len(palette) - 1)]
            ax.barh(
                positions, values, left=left, color=colour, edgecolor="white", label=category_label(category)
            )
            dark = attribute == "age_bucket" and index >= 2 and category != other
            for y, x0, width in zip(positions, left, values, strict=True):
                if width >= 0.08:
                    colour = "white" if dark else "black"
                    label = f"{width:.0%}"
                    ax.text(x0 + width / 2, y, label, ha="center", va="center", fontsize=9, color=colour)
            left += values
        ax.set_yticks(positions, rows)
        ax.set_xlim(0, 1)
        ax.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
        ax.set_title(titles[attribute], loc="left", fontsize=12, fontweight="bold")
        ax.legend(fontsize=8.5, loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=3, frameon=False)
        ax.spines[["top", "right"]].set_visible(False)
    fig.suptitle("Who is in each segment, next to all patients", fontsize=13, fontweight="bold")
    return fig


def figure_png(fig: Figure) -> bytes:
    """The figure as PNG bytes (Agg), with fixed metadata so reruns give the same bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, metadata={"Software": None})
    return buffer.getvalue()


# --- HTML -------------------------------------------------------------------------------

CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 0 auto;
       max-width: 1180px; padding: 24px; color: #222; line-height: 1.45; }
h1 { margin-bottom: 4px; } h2 { margin-top: 40px; border-bottom: 2px solid #eee; padding-bottom: 4px; }
.lead { color: #555; margin-top: 0; }
.figure img { max-width: 100%; border: 1px solid #eee; }
.caption { color: #555; font-size: 0.92em; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(460px, 1fr)); gap: 16px; }
.card { border: 1px solid #ddd; border-left: 8px solid var(--colour); border-radius: 6px;
        padding: 12px 16px; }
.card h3 { margin: 0 0 4px 0; } .action { font-weight: bold; color: var(--colour-dark, #222); }
.card table { border-collapse: collapse; width: 100%; font-size: 0.92em; }
.card td, .card th { padding: 2px 4px; border-bottom: 1px solid #f0f0f0; }
.card td.num, .card th.num { text-align: right; white-space: nowrap; }
.card th { font-size: 0.85em; color: #555; text-align: left; }
.muted { color: #666; font-size: 0.9em; }
.warning { background: #fff4e5; border-left: 6px solid #D55E00; padding: 8px 12px; }
table.diagnostics { border-collapse: collapse; font-size: 0.88em; width: 100%; }
table.diagnostics th, table.diagnostics td { border: 1px solid #ddd; padding: 4px 6px; }
table.diagnostics td.num { text-align: right; } tr.chosen { background: #fff1e0; font-weight: bold; }
"""


def _img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}">'


def _fmt(value: object, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "n/a"
    return f"{value:,.{digits}f}"


def _in_sentence(label: str) -> str:
    """A label inside a sentence: lower-case first word unless it is a name or an acronym."""
    first = label.split(" ", 1)[0]
    return label if first in {"Charlson", "ICU", "ED"} else label[0].lower() + label[1:]


def _pct(value: object) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "n/a"
    return f"{value:.0%}"


def persona_cards(data: ReportData) -> str:
    """One card per segment: action, size, key numbers, top diagnoses."""
    catalogue = data.catalogue.set_index("persona_name")
    scaled, _ = centroid_matrices(data.centroids)
    cards = []
    for profile in data.profiles.itertuples(index=False):
        persona = catalogue.loc[profile.catalogue_persona_name]
        numbers = [
            ("Patients", f"{profile.num_patients:,} ({profile.share_of_patients:.0%})"),
            (
                "Admissions (median / mean)",
                f"{_fmt(profile.median_num_admissions, 0)} / {_fmt(profile.mean_num_admissions)}",
            ),
            ("Avg stay, days (median)", _fmt(profile.median_avg_length_of_stay_days)),
            ("Total hospital days (mean)", _fmt(profile.mean_total_length_of_stay_days)),
            ("ICU stays (mean)", _fmt(profile.mean_icu_stay_count)),
            ("Total ICU days (mean)", _fmt(profile.mean_total_icu_days)),
            ("Distinct diagnoses (median)", _fmt(profile.median_num_unique_icd_diagnoses, 0)),
            ("Age at last admission (mean)", _fmt(profile.mean_age_at_last_admission, 0)),
        ]
        # Outcome and clinical-definition columns, shown when the marts carry them.
        optional = [
            ("mean_emergency_admission_share", "Emergency admissions (mean share)", _pct),
            ("mean_charlson_comorbidity_index", "Charlson index (mean)", lambda v: _fmt(v)),
            ("mean_num_chronic_conditions", "Chronic conditions (mean)", lambda v: _fmt(v)),
            ("readmission_rate", "30-day readmission rate", _pct),
            ("in_hospital_death_rate", "Died in hospital", _pct),
            ("one_year_mortality_rate", "Died within 1 year of last discharge", _pct),
        ]
        for column, label, formatter in optional:
            if column in data.profiles.columns:
                numbers.append((label, formatter(getattr(profile, column))))
        diagnoses = data.top_diagnoses[data.top_diagnoses["cluster_id"] == profile.cluster_id].head(5)
        diagnosis_rows = "".join(
            f"<tr><td>{html.escape(d.long_title)}</td><td class='num'>{d.share_of_segment:.0%}</td>"
            f"<td class='num'>{d.prevalence_ratio:.1f}&times;</td></tr>"
            for d in diagnoses.itertuples(index=False)
        )
        number_rows = "".join(
            f"<tr><td>{html.escape(k)}</td><td class='num'>{v}</td></tr>" for k, v in numbers
        )
        colour = segment_colour(profile.cluster_id)
        centre = scaled.loc[profile.cluster_id]
        strongest = centre.reindex(centre.abs().sort_values(ascending=False, kind="mergesort").index)[:3]
        stands_out = "; ".join(
            f"{'higher' if z > 0 else 'lower'} {_in_sentence(feature_label(f))} ({z:+.1f} SD)"
            for f, z in strongest.items()
        )
        score = profile.persona_match_score
        strength = (
            "strong"
            if score >= 1.0
            else "moderate"
            if score >= 0.25
            else "weak: read the profile, not only the name"
        )
        fit = f"Segment {profile.cluster_id}; fit to the persona's profile {score:+.2f} ({strength})"
        catalogue_note = (
            ""
            if profile.persona_name == profile.catalogue_persona_name
            else "<p class='muted'>Closest catalogue persona: "
            f"{html.escape(profile.catalogue_persona_name)}</p>"
        )
        cards.append(
            f"""<div class="card" style="--colour: {colour}">
  <h3>{html.escape(profile.persona_name)}</h3>
  <p class="muted">{html.escape(fit)}</p>{catalogue_note}
  <p><strong>Stands out for:</strong> {html.escape(stands_out)}</p>
  <p class="action">Suggested action: {html.escape(persona["care_management_action"])}</p>
  <p>{html.escape(persona["action_description"])}</p>
  <table>{number_rows}</table>
  <p><strong>Most common diagnoses</strong></p>
  <table><tr><th>Diagnosis</th><th class="num">Patients in segment</th>
  <th class="num">vs all patients</th></tr>
  {diagnosis_rows}</table>
  <p class="muted">2.0&times;: twice as common in this segment as among all patients.</p>
</div>"""
        )
    return '<div class="cards">' + "\n".join(cards) + "</div>"


def stability_warning(diagnostics: pd.DataFrame) -> str:
    """A plain-language caution when the k in use fails the stability or size rule."""
    chosen = diagnostics[diagnostics["is_chosen"]].iloc[0]
    if bool(chosen["is_eligible"]):
        return ""
    problems = []
    if chosen["stability_mean_ari"] < chosen["rule_min_stability"]:
        problems.append(
            f"refitting on resampled patients reproduces these segments only partly (mean adjusted Rand "
            f"index {chosen['stability_mean_ari']:.2f}, below {chosen['rule_min_stability']:.2f})"
        )
    if chosen["smallest_cluster_share"] < chosen["rule_min_segment_share"]:
        problems.append(f"the smallest segment holds only {chosen['smallest_cluster_share']:.0%} of patients")
    return (
        "<p class='warning'><strong>Caution:</strong> "
        + html.escape("; ".join(problems))
        + ". Treat the boundaries between segments as soft: patients near a boundary may move on the next "
        "refresh. See <em>Why these segments</em> below.</p>"
    )


def diagnostics_table(diagnostics: pd.DataFrame) -> str:
    columns = [
        ("k", "k", 0),
        ("silhouette", "Silhouette", 3),
        ("stability_mean_ari", "Stability (mean ARI)", 3),
        ("smallest_cluster_share", "Smallest segment", None),
        ("calinski_harabasz", "Calinski-Harabasz", 1),
        ("davies_bouldin", "Davies-Bouldin", 3),
        ("inertia", "Inertia", 1),
    ]
    head = "".join(f"<th>{label}</th>" for _, label, _ in columns) + "<th>Why (not) chosen</th>"
    body = []
    for row in diagnostics.itertuples(index=False):
        cells = []
        for column, _, digits in columns:
            value = getattr(row, column)
            cells.append(
                f"<td class='num'>{value:.0%}</td>"
                if digits is None
                else f"<td class='num'>{_fmt(value, digits)}</td>"
            )
        cells.append(f"<td>{html.escape(row.selection_reason)}</td>")
        body.append(f"<tr class='{'chosen' if row.is_chosen else ''}'>{''.join(cells)}</tr>")
    return f"<table class='diagnostics'><tr>{head}</tr>{''.join(body)}</table>"


@dataclass(frozen=True)
class RenderedFigure:
    name: str
    title: str
    png: bytes
    caption: str


def build_figures(data: ReportData) -> list[RenderedFigure]:
    names = data.segment_names
    pca_fig, pca_caption = figure_pca(data.patients, data.centroids, names)
    chosen = data.diagnostics[data.diagnostics["is_chosen"]].iloc[0]
    min_stability = float(chosen["rule_min_stability"])
    min_share = float(chosen["rule_min_segment_share"])
    return [
        RenderedFigure(
            "segment_sizes",
            "Segment sizes",
            figure_png(figure_segment_sizes(data.profiles)),
            "Patients per segment; segments are named by the persona rule from their centroid profiles.",
        ),
        RenderedFigure(
            "centroid_heatmap",
            "What sets each segment apart",
            figure_png(figure_centroid_heatmap(data.centroids, names)),
            "Each cell: how far the segment's centre lies from the average patient, in standard deviations "
            "of the clustering input (log1p of counts and days), and the centre back in the feature's own "
            "units (for log-transformed features a typical value, below the segment's mean).",
        ),
        RenderedFigure("pca", "Patients by segment", figure_png(pca_fig), pca_caption),
        RenderedFigure(
            "demographic_mix",
            "Demographic mix",
            figure_png(figure_demographic_mix(data.demographic_mix, names)),
            "Share of each segment's patients by age bucket, gender, insurance and race (the last two from "
            "the most recent admission), next to all patients. Small categories are grouped as 'All other'.",
        ),
        RenderedFigure(
            "k_selection",
            "Choosing k",
            figure_png(figure_k_selection(data.diagnostics, min_stability, min_share)),
            f"k = {int(chosen['k'])}: {chosen['selection_reason']}.",
        ),
    ]


def render_html(data: ReportData, figures: list[RenderedFigure]) -> str:
    by_name = {f.name: f for f in figures}

    def section(name: str) -> str:
        figure = by_name[name]
        return (
            f"<div class='figure'>{_img(figure.png, figure.title)}"
            f"<p class='caption'>{html.escape(figure.caption)}</p></div>"
        )

    total = int(data.profiles["num_patients"].sum())
    k = len(data.profiles)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Patient segmentation report</title>
<style>{CSS}</style></head>
<body>
<h1>Patient segmentation report</h1>
<p class="lead">{total:,} patients in {k} segments, from the MIMIC-IV marts
(<code>segment_profiles</code>, <code>segment_centroids</code>, <code>segmentation_diagnostics</code>, ...).
Segments group patients by hospital use (admissions, days in hospital), clinical complexity
(distinct diagnoses) and acuity (ICU use, long stays); demographics are shown but not used to form them.</p>

<h2>Segments at a glance</h2>
{stability_warning(data.diagnostics)}
{section("segment_sizes")}

<h2>Personas and suggested actions</h2>
{persona_cards(data)}

<h2>What sets each segment apart</h2>
{section("centroid_heatmap")}

<h2>Patients by segment</h2>
{section("pca")}

<h2>Who is in each segment</h2>
{section("demographic_mix")}

<h2>Why these segments</h2>
{section("k_selection")}
{diagnostics_table(data.diagnostics)}
<p class="muted">Generated by <code>make report</code> (mimic_segments.report) from the DuckDB marts.
Data: MIMIC-IV (PhysioNet); dates are shifted per patient.</p>
</body></html>
"""


def write_report(database: Path, out: Path) -> Path:
    """Render the report into ``out``; returns the HTML path."""
    data = load_report_data(database)
    figures = build_figures(data)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    for figure in figures:
        (out / "figures" / f"{figure.name}.png").write_bytes(figure.png)
    target = out / REPORT_NAME
    tmp = target.with_suffix(".html.tmp")
    tmp.write_text(render_html(data, figures), encoding="utf-8")
    os.replace(tmp, target)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mimic_segments.report", description=__doc__)
    parser.add_argument(
        "--database",
        type=Path,
        default=Path(os.environ.get("MIMIC_SEGMENTS_DB", DEFAULT_DATABASE)),
        help="DuckDB file (default: $MIMIC_SEGMENTS_DB or mimic_segments.duckdb)",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output folder (default: reports)")
    args = parser.parse_args(argv)
    try:
        target = write_report(args.database, args.out)
    except ReportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{target}  ({len(list((args.out / 'figures').glob('*.png')))} figures in {args.out / 'figures'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
