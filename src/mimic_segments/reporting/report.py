"""The segmentation report: one self-contained HTML page with PNG figures, from the marts.

``python -m mimic_segments.reporting.report [--database PATH] [--out reports]`` (``make report``) opens
the DuckDB file read-only, reads the segmentation marts and writes
``<out>/segmentation_report.html`` (figures embedded as data URIs, so the one file can be
mailed or attached) and the same figures as ``<out>/figures/*.png``.

Segments come in two kinds (``marts.segments.segment_kind``): *clustered* segments, the
K-Means segments of the clustering population (the patients with at least one hospital
admission), keyed ``cluster_<cluster_id>``; and *rule-defined* segments, defined by a rule
rather than fitted (``no_hospital_admission``: registry patients never admitted). Every
segment mart is keyed on ``segment_key``; the clustering marts (``segment_centroids``,
``patient_clusters``, ``segmentation_diagnostics``) cover the clustered segments only, by
``cluster_id``.

The page, for a care-management lead rather than a data scientist first:

- the population: registry patients, clustered (admitted) and rule-defined (never admitted);
- segment sizes, as shares of the registry and of the clustering population;
- a card per segment: for a clustered one its persona, the persona's fit (cosine similarity of
  centroid and persona signature, -1..1), the runner-up persona and margin, a warning when the
  match is weak, the suggested action, key numbers and most common diagnoses; for a
  rule-defined one its rule, size and action (no centroid, no fit);
- the centroid heatmap (how each clustered segment differs from the average admitted patient,
  in standard deviations, with the typical value in the feature's own units);
- the admitted patients on the first two principal components, coloured by segment;
- the demographic mix per segment next to the whole registry (for equity review);
- return-to-hospital curves per segment (``segment_return_curves``): step plots of the
  cumulative incidence of return after the first discharge alive, death competing, with 95 %
  bands, and for all patients the same beside 1 - Kaplan-Meier and the other end-of-data
  assumptions;
- the k-selection curves and the diagnostics table (why this many clustered segments).

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
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.decomposition import PCA

from mimic_segments.catalogue import features
from mimic_segments.reporting import prospective, return_curves
from mimic_segments.reporting.prospective import GROUPINGS, top_group
from mimic_segments.segmentation.personas import DEFAULT_MIN_MATCH_SCORE

matplotlib.use("Agg")

DEFAULT_DATABASE = "mimic_segments.duckdb"
DEFAULT_OUT = Path("reports")
REPORT_NAME = "segmentation_report.html"
PCA_MAX_POINTS = 20_000
RANDOM_STATE = 42
DEMOGRAPHIC_MAX_CATEGORIES = 6

# Okabe-Ito: distinguishable with the common colour-vision deficiencies; grey is kept last.
SEGMENT_COLOURS = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]
# Rule-defined segments are not clusters: one neutral grey, unlike any cluster's colour.
RULE_DEFINED_COLOUR = "#8C8C8C"

CLUSTERED = "clustered"
RULE_DEFINED = "rule_defined"
# Below this margin over the runner-up persona, two personas describe a segment about equally.
NARROW_MARGIN = 0.1

# Labels come from the feature catalogue; the two demographic encodings of the clustering
# inputs are not patient_features columns, so they are labelled here.
FEATURE_LABELS = {
    **features.labels(features.load_catalogue()),
    "age_years": "Age (years)",
    "is_female": "Female (share)",
}

REQUIRED_TABLES = (
    "segmentation_diagnostics",
    "segment_centroids",
    "segments",
    "segment_profiles",
    "segment_top_diagnoses",
    "segment_demographic_mix",
    "patient_clusters",
    "segment_return_curves",
)
# The long segment_profiles (one row per segment, feature and statistic).
PROFILE_COLUMNS = ("segment_key", "feature_name", "statistic", "statistic_value")


class ReportError(Exception):
    """The database lacks what the report needs."""


@dataclass(frozen=True, eq=False)
class ReportData:
    """Everything the report shows, read from the marts.

    ``segments`` is ``marts.segments`` (clustered segments by ``cluster_id``, then rule-defined
    ones by ``segment_key``) with ``segment_profiles`` pivoted alongside as
    ``<statistic>_<feature>`` columns (``mean_num_admissions``, ``rate_in_hospital_death``, ...).
    """

    diagnostics: pd.DataFrame
    centroids: pd.DataFrame
    segments: pd.DataFrame
    top_diagnoses: pd.DataFrame
    demographic_mix: pd.DataFrame
    patients: pd.DataFrame
    catalogue: pd.DataFrame
    # marts.build_metadata's row and the failed data-quality checks (warnings: errors stop a
    # build before it is published); empty for a database built before they existed
    build: dict[str, object] = field(default_factory=dict)
    quality_warnings: pd.DataFrame = field(default_factory=pd.DataFrame)
    # marts.segment_prospective_outcomes: built in index mode only (`make prospective`)
    prospective: pd.DataFrame = field(default_factory=pd.DataFrame)
    # marts.segment_return_curves, every assumption, segment and day
    return_curves: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def clustered(self) -> pd.DataFrame:
        return self.segments[self.segments["segment_kind"] == CLUSTERED]

    @property
    def rule_defined(self) -> pd.DataFrame:
        return self.segments[self.segments["segment_kind"] != CLUSTERED]

    @property
    def cluster_names(self) -> dict[int, str]:
        """Clustered segments' persona names by cluster_id (for the clustering figures)."""
        clustered = self.clustered
        return dict(zip(clustered["cluster_id"].astype(int), clustered["persona_name"], strict=True))

    @property
    def segment_names(self) -> dict[str, str]:
        """Every segment's persona name by segment_key."""
        return dict(zip(self.segments["segment_key"], self.segments["persona_name"], strict=True))


def feature_label(name: str) -> str:
    return FEATURE_LABELS.get(name, name.replace("_", " ").capitalize())


CATEGORY_LABELS = {"F": "Female", "M": "Male"}


def category_label(category: str) -> str:
    """Legend text for a demographic category: MIMIC's upper-case values in title case."""
    if category in CATEGORY_LABELS:
        return CATEGORY_LABELS[category]
    return category.title() if category.isupper() else category


def segment_colours(segments: pd.DataFrame) -> dict[str, str]:
    """Every segment's colour by segment_key."""
    return {
        row.segment_key: segment_key_colour(row.segment_kind, row.cluster_id) for row in segments.itertuples()
    }


def segment_colour(cluster_id: int) -> str:
    return SEGMENT_COLOURS[int(cluster_id) % len(SEGMENT_COLOURS)]


def _is_missing(value: object) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value))


def segment_key_colour(segment_kind: str, cluster_id: object) -> str:
    """A segment's colour: its cluster's for a clustered segment, grey for a rule-defined one."""
    if segment_kind != CLUSTERED or _is_missing(cluster_id):
        return RULE_DEFINED_COLOUR
    return segment_colour(int(cluster_id))


def pivot_profiles(profiles: pd.DataFrame) -> pd.DataFrame:
    """The long segment_profiles as one row per segment_key, columns ``<statistic>_<feature>``."""
    columns = profiles["statistic"] + "_" + profiles["feature_name"]
    wide = profiles.assign(column=columns).pivot(
        index="segment_key", columns="column", values="statistic_value"
    )
    wide = wide[sorted(wide.columns)]
    wide.columns.name = None
    return wide.reset_index()


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

        profiles = read("select * from marts.segment_profiles")
        if not set(PROFILE_COLUMNS) <= set(profiles.columns):
            raise ReportError(
                f"{database}: marts.segment_profiles is not the long (segment_key, feature_name, "
                "statistic, statistic_value) table; rebuild with `make build`"
            )
        segments = read(
            "select * from marts.segments order by"
            f" case when segment_kind = '{CLUSTERED}' then 0 else 1 end, cluster_id, segment_key"
        )
        if segments.empty:
            raise ReportError(f"{database}: marts.segments is empty; run `make build` first")
        segments = segments.merge(
            pivot_profiles(profiles[list(PROFILE_COLUMNS)]), on="segment_key", how="left", validate="1:1"
        )
        # the weak-match threshold the build used, stored with the flags it produced
        thresholds = read("select cluster_id, persona_min_match_score from marts.segment_personas")
        segments = segments.merge(thresholds, on="cluster_id", how="left", validate="m:1")
        return ReportData(
            diagnostics=read("select * from marts.segmentation_diagnostics order by k"),
            centroids=read("select * from marts.segment_centroids order by cluster_id, feature_position"),
            segments=segments,
            top_diagnoses=read(
                "select * from marts.segment_top_diagnoses order by segment_key, diagnosis_rank"
            ),
            demographic_mix=read(
                "select * from marts.segment_demographic_mix order by segment_key, attribute_name, category"
            ),
            patients=read("select * from marts.patient_clusters order by subject_id"),
            catalogue=read("select * from raw.persona_catalogue order by catalogue_order"),
            build=(
                read("select * from marts.build_metadata").iloc[0].to_dict()
                if "build_metadata" in present
                else {}
            ),
            quality_warnings=(
                read(
                    "select check_name, severity, model_name, column_name, observed_value, description"
                    " from marts.data_quality_checks where not passed order by check_name"
                )
                if "data_quality_checks" in present
                else pd.DataFrame()
            ),
            prospective=(
                prospective.read_outcomes(connection)
                if "segment_prospective_outcomes" in present
                else pd.DataFrame()
            ),
            return_curves=return_curves.read_curves(connection),
        )


# --- figures ----------------------------------------------------------------------------


def size_label(segment: pd.Series) -> str:
    """Count and shares of a segment: of the registry, and of the clustering population."""
    n, registry = int(segment["num_patients"]), segment["share_of_registry"]
    if segment["segment_kind"] == CLUSTERED:
        return (
            f"{n:,} patients ({_pct(registry)} of registry, "
            f"{_pct(segment['share_of_clustered_population'])} of clustered)"
        )
    return f"{n:,} patients ({_pct(registry)} of registry; not clustered)"


def figure_segment_sizes(segments: pd.DataFrame) -> Figure:
    """Horizontal bars: patients per segment (clustered, then rule-defined), with both shares."""
    ordered = segments.iloc[::-1]  # barh draws bottom-up: the first segment on top
    fig = Figure(figsize=(10, 0.7 * len(ordered) + 1.4), layout="constrained")
    ax = fig.add_subplot()
    bars = ax.barh(
        [
            name if kind == CLUSTERED else f"{name} (rule-defined)"
            for name, kind in zip(ordered["persona_name"], ordered["segment_kind"], strict=True)
        ],
        ordered["num_patients"],
        color=[
            segment_key_colour(kind, c)
            for kind, c in zip(ordered["segment_kind"], ordered["cluster_id"], strict=True)
        ],
        hatch=["" if kind == CLUSTERED else "//" for kind in ordered["segment_kind"]],
        edgecolor="white",
    )
    for bar, (_, segment) in zip(bars, ordered.iterrows(), strict=True):
        ax.annotate(
            " " + size_label(segment),
            (bar.get_width(), bar.get_y() + bar.get_height() / 2),
            va="center",
            fontsize=10.5,
        )
    ax.set_xlim(0, ordered["num_patients"].max() * 1.9)
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
    """PCA (2 components) fitted on every clustered patient's standardized values.

    Returns the points to draw (a fixed-seed sample of at most ``max_points`` patients, with
    ``pc1``, ``pc2`` and ``cluster_id``), the projected centroids (by ``cluster_id``), the
    explained variance ratios and the number of patients in all. Centroid rows are in
    ascending ``cluster_id`` order.
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
    cluster_ids = sorted(centroids["cluster_id"].unique())
    for cluster_id, (x, y) in zip(cluster_ids, centres, strict=True):
        ax.scatter(
            x, y, marker="X", s=260, color=segment_colour(cluster_id), edgecolors="black", linewidths=1.3
        )
    ax.set_xlabel(f"Principal component 1 ({explained[0]:.0%} of variance): higher = more care needs")
    ax.set_ylabel(f"Principal component 2 ({explained[1]:.0%} of variance)")
    ax.set_title(
        "Admitted patients by clustered segment (X = segment centroid)",
        loc="left",
        fontsize=13,
        fontweight="bold",
    )
    ax.legend(loc="best", fontsize=10, frameon=True, framealpha=0.9)
    ax.grid(alpha=0.25)
    ax.spines[["top", "right"]].set_visible(False)
    shown = len(points)
    caption = (
        f"All {total:,} clustered (admitted) patients, projected with PCA on the standardized clustering "
        f"features ({explained.sum():.0%} of the variance in two dimensions). Segments that overlap here "
        "differ along directions this view cannot show: see the heatmap. Rule-defined segments are not "
        "clustered and have no place here."
        if shown == total
        else f"A fixed random sample of {shown:,} of {total:,} clustered (admitted) patients is drawn; "
        "the PCA is fitted on all of them. Rule-defined segments are not clustered and have no place here."
    )
    return fig, caption


def figure_k_selection(diagnostics: pd.DataFrame, min_stability: float, min_share: float) -> Figure:
    """The diagnostics per k: six small panels, the chosen k highlighted, one shared legend."""
    panels = [
        ("silhouette", "Silhouette (higher = better separated)", None),
        ("stability_mean_ari", "Stability: mean bootstrap ARI (higher = steadier)", min_stability),
        ("smallest_cluster_share", "Smallest segment's share of clustered patients", min_share),
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


REGISTRY_ROW = "All patients (registry)"
CLUSTERED_ROW = "Admitted patients (clustered)"
UNKNOWN_COLOUR = "#E3E3E3"


def figure_demographic_mix(mix: pd.DataFrame, segments: pd.DataFrame) -> Figure:
    """Per attribute, stacked bars of each segment's mix next to the whole registry.

    ``mix`` is ``segment_demographic_mix`` (keyed on segment_key); ``segments`` gives the row
    order and names (clustered segments, then rule-defined ones). When there are rule-defined
    segments the admitted (clustered) population gets a baseline row of its own too.
    """
    attributes = ["age_bucket", "gender", "insurance", "race"]
    titles = {
        "age_bucket": "Age at last admission",
        "gender": "Gender",
        "insurance": "Insurance (most recent admission)",
        "race": "Race (most recent admission)",
    }
    shown = segments[segments["segment_key"].isin(set(mix["segment_key"]))]
    has_rule_defined = bool((shown["segment_kind"] != CLUSTERED).any())
    baselines = [REGISTRY_ROW, CLUSTERED_ROW] if has_rule_defined else [REGISTRY_ROW]
    labels = [
        name if kind == CLUSTERED else f"{name} (rule-defined)"
        for name, kind in zip(shown["persona_name"], shown["segment_kind"], strict=True)
    ]
    keys = [*baselines, *shown["segment_key"]]  # row index: unique even if two names were equal
    fig = Figure(figsize=(15, 0.55 * len(keys) * 2 + 3.2), layout="constrained")
    axes = fig.subplots(2, 2, sharey=True)
    # Category colours deliberately differ from the segment colours used everywhere else.
    palette = ["#4E79A7", "#A0CBE8", "#F28E2B", "#FFBE7D", "#59A14F", "#8CD17D", "#BAB0AC"]
    ordered_palette = ["#DEEBF7", "#9ECAE1", "#4292C6", "#08519C", "#08306B"]
    for ax, attribute in zip(axes.flat, attributes, strict=True):
        part = mix[mix["attribute_name"] == attribute]
        categories = part.drop_duplicates("category").set_index("category")
        registry = categories["share_of_registry"]
        ranked = registry.sort_values(ascending=False, kind="mergesort")
        if attribute == "age_bucket":
            ranked = registry.sort_index()
        keep = ranked.index[:DEMOGRAPHIC_MAX_CATEGORIES].tolist()
        if len(ranked) > DEMOGRAPHIC_MAX_CATEGORIES:
            keep = ranked.index[: DEMOGRAPHIC_MAX_CATEGORIES - 1].tolist()
        other = "Smaller groups"
        shares = pd.DataFrame(0.0, index=keys, columns=[*keep, other], dtype="float64")
        shares.loc[REGISTRY_ROW, keep] = registry[keep].to_numpy()
        if has_rule_defined:
            clustered = categories["share_of_clustered_population"].astype("float64")
            shares.loc[CLUSTERED_ROW, keep] = clustered.reindex(keep).fillna(0.0).to_numpy()
        for segment_key in shown["segment_key"]:
            segment = part[part["segment_key"] == segment_key].set_index("category")["share_of_segment"]
            shares.loc[segment_key, keep] = segment.reindex(keep).fillna(0.0).to_numpy()
        shares[other] = (1.0 - shares[keep].sum(axis=1)).clip(lower=0.0)
        if shares[other].max() < 1e-9:
            shares = shares.drop(columns=other)
        left = np.zeros(len(keys))
        positions = np.arange(len(keys))[::-1]
        for index, category in enumerate(shares.columns):
            values = shares[category].to_numpy()
            unknown = category == "Unknown"
            if category == other:
                colour = palette[-1]
            elif unknown:
                colour = UNKNOWN_COLOUR
            elif attribute == "age_bucket":
                colour = ordered_palette[index % len(ordered_palette)]
            else:
                colour = palette[index % (len(palette) - 1)]
            label = category_label(category)
            if attribute == "age_bucket" and unknown:
                label = "Unknown (never admitted)"
            ax.barh(positions, values, left=left, color=colour, edgecolor="white", label=label)
            dark = attribute == "age_bucket" and index >= 2 and category != other and not unknown
            for y, x0, width in zip(positions, left, values, strict=True):
                if width >= 0.08:
                    colour = "white" if dark else "black"
                    ax.text(
                        x0 + width / 2, y, f"{width:.0%}", ha="center", va="center", fontsize=9, color=colour
                    )
            left += values
        ax.set_yticks(positions, [*baselines, *labels])
        ax.set_xlim(0, 1)
        ax.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
        ax.set_title(titles[attribute], loc="left", fontsize=12, fontweight="bold")
        ax.legend(fontsize=8.5, loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=3, frameon=False)
        ax.spines[["top", "right"]].set_visible(False)
    fig.suptitle("Who is in each segment, next to all registry patients", fontsize=13, fontweight="bold")
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
.population { display: grid; grid-template-columns: repeat(3, 1fr); gap: 16px; }
.tile { border: 1px solid #ddd; border-radius: 6px; padding: 10px 14px; }
.tile .big { font-size: 1.9em; font-weight: bold; }
table.sizes { border-collapse: collapse; font-size: 0.92em; margin-top: 8px; }
table.sizes th, table.sizes td { border-bottom: 1px solid #eee; padding: 3px 10px; text-align: left; }
table.sizes td.num, table.sizes th.num { text-align: right; }
.card .kind { margin: 0; color: #555; font-size: 0.88em; }
.card.rule-defined { border-left-style: dashed; background: #fafafa; }
.weak { background: #fff4e5; border-left: 6px solid #D55E00; padding: 6px 10px; }
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


def _value(segment: pd.Series, column: str) -> object:
    """A segment's value of a column, or None when the marts do not carry it."""
    value = segment.get(column)
    return None if _is_missing(value) else value


def segment_numbers(segment: pd.Series) -> list[tuple[str, str]]:
    """Label and formatted value of a segment's key numbers; a number the marts lack is left out."""

    def one(value: object) -> str:
        return _fmt(value)

    def whole(value: object) -> str:
        return _fmt(value, 0)

    def admissions(mean: object) -> str:
        return f"{_fmt(_value(segment, 'median_num_admissions'), 0)} / {_fmt(mean)}"

    numbers = [("Patients", size_label(segment))]
    priority = _value(segment, "outreach_priority")
    if priority is not None:
        numbers.append(("Outreach priority", f"{int(priority)} (1 = first)"))
    profile = [
        ("mean_num_admissions", "Admissions (median / mean)", admissions),
        ("median_avg_length_of_stay_days", "Avg stay, days (median)", one),
        ("mean_total_length_of_stay_days", "Total hospital days (mean)", one),
        ("mean_icu_stay_count", "ICU stays (mean)", one),
        ("mean_total_icu_days", "Total ICU days (mean)", one),
        ("mean_ed_visit_count", "ED visits (mean)", one),
        ("median_num_unique_icd_diagnoses", "Distinct diagnoses (median)", whole),
        ("mean_age_at_last_admission", "Age at last admission (mean)", whole),
        ("mean_emergency_admission_share", "Emergency admissions (mean share)", _pct),
        ("mean_charlson_comorbidity_index", "Charlson index (mean)", one),
        ("mean_num_chronic_conditions", "Chronic conditions (mean)", one),
        ("rate_has_chronic_condition", "Has a chronic condition", _pct),
        ("readmission_rate", "Early (30-day by default) readmission rate", _pct),
        ("rate_in_hospital_death", "Died in hospital", _pct),
        ("rate_died_within_1y_of_last_discharge", "Died within 1 year of last discharge", _pct),
    ]
    for column, label, formatter in profile:
        value = _value(segment, column)
        if value is not None:
            numbers.append((label, formatter(value)))
    return numbers


def _diagnoses_table(data: ReportData, segment_key: str) -> str:
    diagnoses = data.top_diagnoses[data.top_diagnoses["segment_key"] == segment_key].head(5)
    if diagnoses.empty:
        return "<p class='muted'>No coded diagnoses: no hospital admission to code them in.</p>"
    rows = "".join(
        f"<tr><td>{html.escape(d.long_title)}</td><td class='num'>{d.share_of_segment:.0%}</td>"
        f"<td class='num'>{_fmt(d.prevalence_ratio)}&times;</td></tr>"
        for d in diagnoses.itertuples(index=False)
    )
    return f"""<p><strong>Most common diagnoses</strong></p>
  <table><tr><th>Diagnosis</th><th class="num">Patients in segment</th>
  <th class="num">vs all admitted patients</th></tr>
  {rows}</table>
  <p class="muted">2.0&times;: twice as common in this segment as among all admitted patients.</p>"""


def _catalogue_entry(data: ReportData, segment: pd.Series) -> pd.Series | None:
    """The catalogue persona behind a segment's action: by key (rule-defined) or by name."""
    catalogue = data.catalogue
    if "persona_key" in catalogue.columns:
        by_key = catalogue[catalogue["persona_key"] == segment["segment_key"]]
        if not by_key.empty:
            return by_key.iloc[0]
    by_name = catalogue[catalogue["persona_name"] == segment["catalogue_persona_name"]]
    return None if by_name.empty else by_name.iloc[0]


def _action(segment: pd.Series, persona: pd.Series | None) -> str:
    action = _value(segment, "care_management_action")
    if action is None and persona is not None:
        action = persona.get("care_management_action")
    text = f'<p class="action">Suggested action: {html.escape(str(action))}</p>' if action else ""
    if persona is not None and not _is_missing(persona.get("action_description")):
        text += f"\n  <p>{html.escape(str(persona['action_description']))}</p>"
    return text


def _number_rows(segment: pd.Series) -> str:
    return "".join(
        f"<tr><td>{html.escape(k)}</td><td class='num'>{html.escape(v)}</td></tr>"
        for k, v in segment_numbers(segment)
    )


def persona_fit_note(segment: pd.Series) -> str:
    """The fit of a clustered segment's persona, its runner-up and margin, in one line."""
    score = _value(segment, "persona_match_score")
    if score is None:
        return "Persona fit: not available."
    note = f"Persona fit {score:+.2f} (cosine similarity, -1 to 1)"
    runner_up, margin = _value(segment, "runner_up_persona_name"), _value(segment, "persona_match_margin")
    if runner_up is not None and margin is not None:
        note += f"; runner-up: {runner_up}, margin {margin:+.2f}"
        if margin < 0:
            note += (
                " (negative: the runner-up fits this segment better, but the one-to-one assignment gave "
                "that persona to another segment)"
            )
        elif margin < NARROW_MARGIN:
            note += " (narrow: two personas describe this segment about equally)"
    return note + "."


def _threshold(segment: pd.Series) -> float:
    """The weak-match threshold of the build (stored in segment_personas), else the default."""
    value = _value(segment, "persona_min_match_score")
    return float(value) if value is not None else DEFAULT_MIN_MATCH_SCORE


def weak_match_warning(segment: pd.Series) -> str:
    """The flag of a weak persona match, or nothing."""
    flag = _value(segment, "is_weak_persona_match")
    if flag is None or not bool(flag):
        return ""
    score = _value(segment, "persona_match_score")
    fit = f"fit {score:+.2f}" if score is not None else "fit"
    return (
        "<p class='weak'><strong>Weak match:</strong> "
        + html.escape(
            f"the persona's {fit} is below var persona_min_match_score "
            f"({_threshold(segment):.2f}), so the name \u201c{segment['persona_name']}\u201d and its "
            "suggested action describe this segment poorly. Read the segment's profile (what it stands out "
            "for, its numbers and diagnoses) before acting on the persona."
        )
        + "</p>"
    )


def clustered_card(data: ReportData, segment: pd.Series, scaled: pd.DataFrame) -> str:
    cluster_id = int(segment["cluster_id"])
    persona = _catalogue_entry(data, segment)
    centre = scaled.loc[cluster_id]
    strongest = centre.reindex(centre.abs().sort_values(ascending=False, kind="mergesort").index)[:3]
    stands_out = "; ".join(
        f"{'higher' if z > 0 else 'lower'} {_in_sentence(feature_label(f))} ({z:+.1f} SD)"
        for f, z in strongest.items()
    )
    naming = ""
    if segment.get("naming_rule") == "descriptive":
        naming = (
            "<p class='muted'>Named after its dominant care-need dimensions (the number of segments differs "
            "from the number of clustered catalogue personas); its action is that of its closest catalogue "
            f"persona, {html.escape(str(segment['catalogue_persona_name']))}.</p>"
        )
    elif segment["persona_name"] != segment["catalogue_persona_name"]:
        naming = (
            "<p class='muted'>Closest catalogue persona: "
            f"{html.escape(str(segment['catalogue_persona_name']))}</p>"
        )
    return f"""<div class="card clustered" style="--colour: {segment_colour(cluster_id)}">
  <h3>{html.escape(str(segment["persona_name"]))}</h3>
  <p class="kind">Clustered segment <code>{html.escape(str(segment["segment_key"]))}</code></p>
  <p class="muted">{html.escape(persona_fit_note(segment))}</p>{naming}
  {weak_match_warning(segment)}
  <p><strong>Stands out for:</strong> {html.escape(stands_out)}</p>
  {_action(segment, persona)}
  <table>{_number_rows(segment)}</table>
  {_diagnoses_table(data, segment["segment_key"])}
</div>"""


def rule_defined_card(data: ReportData, segment: pd.Series) -> str:
    persona = _catalogue_entry(data, segment)
    rule = None if persona is None else _value(persona, "segment_rule")
    rule_text = f" (<code>{html.escape(str(rule))}</code>)" if rule else ""
    description = (
        ""
        if persona is None or _is_missing(persona.get("description"))
        else f"\n  <p>{html.escape(str(persona['description']))}</p>"
    )
    return f"""<div class="card rule-defined" style="--colour: {RULE_DEFINED_COLOUR}">
  <h3>{html.escape(str(segment["persona_name"]))}</h3>
  <p class="kind">Rule-defined segment <code>{html.escape(str(segment["segment_key"]))}</code></p>
  <p class="muted">Not clustered: defined by a rule{rule_text}, not fitted. It has no centroid and no
  persona fit, and is not in the heatmap, the PCA or the choice of k.</p>{description}
  {_action(segment, persona)}
  <table>{_number_rows(segment)}</table>
  {_diagnoses_table(data, segment["segment_key"])}
</div>"""


def persona_cards(data: ReportData) -> str:
    """One card per segment: clustered ones (persona, fit, action, numbers), then rule-defined ones."""
    scaled, _ = centroid_matrices(data.centroids)
    cards = [clustered_card(data, segment, scaled) for _, segment in data.clustered.iterrows()]
    cards += [rule_defined_card(data, segment) for _, segment in data.rule_defined.iterrows()]
    weak = int(data.clustered["is_weak_persona_match"].fillna(False).astype(bool).sum())
    stored = (
        data.clustered["persona_min_match_score"].dropna()
        if "persona_min_match_score" in data.segments
        else []
    )
    threshold = float(stored.iloc[0]) if len(stored) else DEFAULT_MIN_MATCH_SCORE
    intro = (
        "<p>Each clustered segment is named after the catalogue persona (seeds "
        "<code>persona_catalogue</code> and <code>persona_signatures</code>) its centroid fits. "
        "<strong>Fit</strong> is the cosine similarity between the segment's standardized centroid "
        "and the persona's signature: from -1 (the opposite profile) through 0 (unrelated) to +1 "
        "(exactly the signature's direction). <strong>Margin</strong> is the fit minus that of the "
        "runner-up persona: near 0, two personas describe the segment about equally. A fit below var "
        f"<code>persona_min_match_score</code> ({threshold:.2f} in this build) is flagged as a "
        "<strong>weak match</strong>: read the profile before acting on the persona. Rule-defined "
        "segments are not clustered and have no fit.</p>"
    )
    summary = (
        f"<p class='muted'>{weak} of {len(data.clustered)} clustered segments have a weak persona match.</p>"
        if weak
        else ""
    )
    return intro + summary + '<div class="cards">' + "\n".join(cards) + "</div>"


def population_panel(data: ReportData) -> str:
    """Registry, clustered and rule-defined patients, then every segment's size and shares."""
    registry = int(data.segments["num_patients"].sum())
    clustered = int(data.clustered["num_patients"].sum())
    rule_defined = registry - clustered
    k, r = len(data.clustered), len(data.rule_defined)

    def share(n: int) -> str:
        return _pct(n / registry) if registry else "n/a"

    tiles = [
        ("registry", f"{registry:,}", "registry patients", "every patient in hosp.patients"),
        (
            "clustered",
            f"{clustered:,}",
            "clustered (admitted) patients",
            f"{share(clustered)} of the registry, in {k} clustered segment{'s' if k != 1 else ''}",
        ),
        (
            "rule-defined",
            f"{rule_defined:,}",
            "rule-defined (never admitted) patients",
            f"{share(rule_defined)} of the registry, in {r} rule-defined segment{'s' if r != 1 else ''}"
            if r
            else f"{share(rule_defined)} of the registry: no rule-defined segment",
        ),
    ]
    panel = "".join(
        f"<div class='tile' id='population-{key}'><div class='big'>{number}</div>"
        f"<div>{html.escape(label)}</div><div class='muted'>{html.escape(note)}</div></div>"
        for key, number, label, note in tiles
    )
    note = (
        "<p class='muted'>No registry patient lacks a hospital admission here: every patient is "
        "clustered.</p>"
        if rule_defined == 0
        else "<p class='muted'>Patients without a hospital admission have no hospital-use features to "
        "cluster on: they form rule-defined segments instead, shown next to the clustered ones.</p>"
    )
    rows = "".join(
        f"<tr><td>{html.escape(str(s.persona_name))}</td>"
        f"<td>{'clustered' if s.segment_kind == CLUSTERED else 'rule-defined'}</td>"
        f"<td class='num'>{int(s.num_patients):,}</td><td class='num'>{_pct(s.share_of_registry)}</td>"
        "<td class='num'>"
        + (_pct(s.share_of_clustered_population) if s.segment_kind == CLUSTERED else "&ndash;")
        + "</td></tr>"
        for s in data.segments.itertuples(index=False)
    )
    table = (
        "<table class='sizes'><tr><th>Segment</th><th>Kind</th><th class='num'>Patients</th>"
        "<th class='num'>Share of registry</th><th class='num'>Share of clustered population</th></tr>"
        f"{rows}</table>"
    )
    return f"<div class='population'>{panel}</div>{note}{table}"


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
        problems.append(
            f"the smallest clustered segment holds only {chosen['smallest_cluster_share']:.0%} of the "
            "clustered patients"
        )
    return (
        "<p class='warning'><strong>Caution:</strong> "
        + html.escape("; ".join(problems))
        + ". Treat the boundaries between clustered segments as soft: patients near a boundary may move "
        "on the next refresh. See <em>Why these clustered segments</em> below.</p>"
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
    names = data.cluster_names
    pca_fig, pca_caption = figure_pca(data.patients, data.centroids, names)
    chosen = data.diagnostics[data.diagnostics["is_chosen"]].iloc[0]
    min_stability = float(chosen["rule_min_stability"])
    min_share = float(chosen["rule_min_segment_share"])
    return [
        RenderedFigure(
            "segment_sizes",
            "Segment sizes",
            figure_png(figure_segment_sizes(data.segments)),
            "Patients per segment, as a share of the registry (every patient) and, for clustered segments, "
            "of the clustered (admitted) population. Clustered segments are named by the persona rule from "
            "their centroids; rule-defined segments (hatched grey) by their rule.",
        ),
        RenderedFigure(
            "centroid_heatmap",
            "What sets each segment apart",
            figure_png(figure_centroid_heatmap(data.centroids, names)),
            "Clustered segments only. Each cell: how far the segment's centre lies from the average admitted "
            "patient, in standard deviations of the clustering input (log1p of counts and days), and the "
            "centre back in the feature's own units (for log-transformed features a typical value, below the "
            "segment's mean).",
        ),
        RenderedFigure("pca", "Admitted patients by clustered segment", figure_png(pca_fig), pca_caption),
        RenderedFigure(
            "demographic_mix",
            "Demographic mix",
            figure_png(figure_demographic_mix(data.demographic_mix, data.segments)),
            "Share of each segment's patients by age bucket, gender, insurance and race (the last two from "
            "the most recent admission; 'Unknown' for a patient never admitted), next to all registry "
            "patients (and the admitted patients, when some are not admitted). Small categories are grouped "
            "as 'Smaller groups'.",
        ),
        RenderedFigure(
            "return_curves",
            "Return to hospital",
            figure_png(
                return_curves.figure_return_curves(
                    data.return_curves, segment_colours(data.segments), list(data.segments["segment_key"])
                )
            ),
            "Share of patients back in hospital t days after their first discharge alive (one index per "
            "patient), by segment: the cumulative incidence of return with death as a competing risk "
            "(Aalen-Johansen), with a 95 % pointwise band (log(-log) interval). Follow-up is censored at "
            "the earliest end of data the anchor year group allows. Right, all patients: the same beside "
            "1 - Kaplan-Meier with deaths censored (which overstates returns where patients die), the "
            "incidence of death before any return, and the curve if the end of data were later. One "
            "hospital only: returns elsewhere are not seen.",
        ),
        *prospective_figures(data),
        RenderedFigure(
            "k_selection",
            "Choosing k",
            figure_png(figure_k_selection(data.diagnostics, min_stability, min_share)),
            f"k = {int(chosen['k'])}: {chosen['selection_reason']}.",
        ),
    ]


def prospective_figures(data: ReportData) -> list[RenderedFigure]:
    """The lift-and-concentration figure, when the database holds the prospective mart."""
    if data.prospective.empty:
        return []
    figure = prospective.figure_lift_and_concentration(data.prospective, segment_colours(data.segments))
    return [
        RenderedFigure(
            "prospective", prospective.FIGURE_TITLE, figure_png(figure), prospective.FIGURE_CAPTION
        )
    ]


def render_html(data: ReportData, figures: list[RenderedFigure]) -> str:
    by_name = {f.name: f for f in figures}

    def section(name: str) -> str:
        figure = by_name[name]
        return (
            f"<div class='figure'>{_img(figure.png, figure.title)}"
            f"<p class='caption'>{html.escape(figure.caption)}</p></div>"
        )

    registry = int(data.segments["num_patients"].sum())
    clustered = int(data.clustered["num_patients"].sum())
    k, r = len(data.clustered), len(data.rule_defined)
    rule_sentence = (
        f" and {registry - clustered:,} patients never admitted in {r} rule-defined "
        f"segment{'s' if r != 1 else ''}"
        if r
        else ""
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Patient segmentation report</title>
<style>{CSS}</style></head>
<body>
<h1>Patient segmentation report</h1>
<p class="lead">{registry:,} registry patients: {clustered:,} admitted patients in {k} clustered
segment{"s" if k != 1 else ""}{rule_sentence}, from the MIMIC-IV marts (<code>segments</code>,
<code>segment_profiles</code>, <code>segment_centroids</code>, <code>segmentation_diagnostics</code>, ...).
Clustered segments group admitted patients by hospital use (admissions, days in hospital), clinical
complexity (distinct diagnoses) and acuity (ICU use, long stays); demographics are shown but not used to
form them. Patients without a hospital admission are not clustered: a rule puts them in a segment of
their own.</p>

<h2>Population</h2>
{population_panel(data)}

<h2>Segments at a glance</h2>
{stability_warning(data.diagnostics)}
{section("segment_sizes")}

<h2>Personas and suggested actions</h2>
{persona_cards(data)}

<h2>What sets each clustered segment apart</h2>
{section("centroid_heatmap")}

<h2>Admitted patients by clustered segment</h2>
{section("pca")}

<h2>Who is in each segment</h2>
{section("demographic_mix")}

<h2>Return to hospital after the first discharge</h2>
{section("return_curves")}
{return_curves.report_table(data.return_curves, list(data.segments["segment_key"]))}
<p class="muted">From <code>segment_return_curves</code> (primary end-of-data assumption). Segments are
fitted on each patient's whole history, so a segment of frequent admissions returns often by
construction: the curves describe the segments, they do not predict from what was known at discharge.
See the docs block <code>return_curves</code> for the method and its limits.</p>

<h2>Why these clustered segments</h2>
{section("k_selection")}
{diagnostics_table(data.diagnostics)}
{prospective_section(data.prospective, section("prospective") if "prospective" in by_name else "")}
{build_section(data)}
<p class="muted">Generated by <code>make report</code> (mimic_segments.reporting.report) from the DuckDB
marts. Data: MIMIC-IV (PhysioNet); dates are shifted per patient.</p>
</body></html>
"""


def concentration_sentence(outcomes: pd.DataFrame, grouping: str, outcome: str) -> str:
    """'the top segment (X) holds N % of patients and accounts for N % of next-year bed-days'."""
    top = top_group(outcomes, grouping, outcome)
    if top is None:
        return ""
    kind = "segment" if grouping == "segment" else "baseline group"
    return (
        f"The top {kind} ({html.escape(str(top['group_label']))}) holds {_pct(top['share_of_patients'])} "
        f"of the followed-up patients and accounts for {_pct(top['share_of_outcome'])} of their next-year "
        f"{prospective.OUTCOMES.get(outcome, outcome)} (lift {_fmt(top['lift'], 2)})."
    )


def prospective_table(outcomes: pd.DataFrame, outcome: str) -> str:
    """One outcome: per segment and per baseline group, n, mean [95 % CI], lift, concentration."""
    rows = []
    for grouping, title in GROUPINGS.items():
        part = outcomes[(outcomes["group_type"] == grouping) & (outcomes["outcome"] == outcome)]
        rows.append(f"<tr><th colspan='6'>{html.escape(title)}</th></tr>")
        for row in part.itertuples():
            interval = f"{_fmt(row.ci_lower, 2)} to {_fmt(row.ci_upper, 2)}"
            rows.append(
                f"<tr><td>{html.escape(str(row.group_label))}</td><td>{row.num_patients:,}</td>"
                f"<td>{_fmt(row.mean_outcome, 2)} ({interval})</td><td>{_fmt(row.lift, 2)}</td>"
                f"<td>{_pct(row.share_of_patients)}</td><td>{_pct(row.share_of_outcome)}</td></tr>"
            )
    header = (
        "<tr><th>Group</th><th>Patients</th><th>Mean (95 % CI)</th><th>Lift</th>"
        "<th>Share of patients</th><th>Share of outcome</th></tr>"
    )
    return f"<table>{header}{''.join(rows)}</table>"


def prospective_section(outcomes: pd.DataFrame, figure: str = "") -> str:
    """Prospective validation (marts.segment_prospective_outcomes), with its figure's HTML;
    empty without that mart."""
    if outcomes.empty:
        return ""
    followed = prospective.followed_up_patients(outcomes)
    parts = [
        "<h2>Do the segments predict next year?</h2>",
        "<p>Segments assigned at each patient's index (the end of their first year in hospital records) "
        "from the features known then, against what happened in the following year (var "
        f"prospective_window_days), for the {followed:,} patients followed up for that year. "
        "Means with 95 % confidence intervals (Wilson for deaths, else the normal approximation); "
        "lift is the group's mean over the mean of every followed-up patient; share of patients against "
        "share of the outcome is the concentration, summed up by the concentration index (twice the area "
        "between the gains curve and the diagonal: 0 separates no one). The baseline needs no model: "
        "patients grouped by their admissions in the year before the index. The segments add value only "
        "where they separate outcomes better than the baseline does.</p>",
        figure,
    ]
    indexes = {
        (item.outcome, item.grouping): item.concentration_index for item in prospective.summarise(outcomes)
    }
    for outcome, label in prospective.OUTCOMES.items():
        sentences = " ".join(
            sentence
            for sentence in (
                concentration_sentence(outcomes, "segment", outcome),
                concentration_sentence(outcomes, "prior_year_admissions", outcome),
            )
            if sentence
        )
        if (outcome, "segment") in indexes:
            sentences += (
                f" Concentration index: segments {_fmt(indexes[(outcome, 'segment')], 2)}, baseline "
                f"{_fmt(indexes.get((outcome, 'prior_year_admissions')), 2)}."
            )
        parts.append(f"<h3>Next-year {html.escape(label)}</h3><p>{sentences}</p>")
        parts.append(prospective_table(outcomes, outcome))
    if followed < 1000:
        parts.append(
            f"<p class='muted'>{followed:,} patients: the intervals are wide, and the numbers show the "
            "method rather than a finding.</p>"
        )
    return "\n".join(parts)


def build_section(data: ReportData) -> str:
    """Which build the report shows (marts.build_metadata) and its data-quality warnings."""
    if not data.build:
        return ""
    build = data.build
    rows = [
        ("Build", str(build.get("build_id", ""))),
        ("Finished", str(build.get("build_finished_at") or build.get("build_started_at", ""))),
        ("Source", f"{build.get('source_mode', '')}: {build.get('source_release', '')}"),
        ("Project", f"{build.get('project_version', '')} (commit {build.get('git_commit', '')})"),
    ]
    table = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>" for k, v in rows)
    warnings = data.quality_warnings
    if warnings.empty:
        quality = "<p>Every data-quality check passed.</p>"
    else:
        items = "".join(
            f"<li><code>{html.escape(str(w.check_name))}</code> ({html.escape(str(w.model_name))}"
            f"{'.' + html.escape(str(w.column_name)) if isinstance(w.column_name, str) else ''}): "
            f"{html.escape(str(w.description))}; observed {w.observed_value}</li>"
            for w in warnings.itertuples()
        )
        quality = (
            f"<p>Data-quality warnings ({len(warnings)}), from <code>marts.data_quality_checks</code>:"
            f"</p><ul>{items}</ul>"
        )
    return f"<h2>This build</h2>\n<table>{table}</table>\n{quality}"


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
    parser = argparse.ArgumentParser(prog="python -m mimic_segments.reporting.report", description=__doc__)
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
