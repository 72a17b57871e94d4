"""The segmentation report's figures, drawn from ``ReportData``.

Drawn with matplotlib's object-oriented API on the Agg canvas (no display, no global pyplot
state), deterministic for a given database, and saved as PNG with fixed metadata. Clustered
segments keep one colour everywhere (Okabe-Ito); rule-defined ones are grey and hatched. Every
figure labels a segment the same way (``figure_labels``): its name, and ``(weak match)`` after
the name of a clustered segment whose centroid fits its persona weakly.
"""

from __future__ import annotations

import base64
import io
import textwrap
from dataclasses import dataclass

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.decomposition import PCA

from mimic_segments.reporting import discrimination, prospective, return_curves
from mimic_segments.reporting.report_data import CLUSTERED, ReportData, centroid_matrices, feature_label
from mimic_segments.reporting.report_text import is_missing, size_label
from mimic_segments.segmentation.personas import DEFAULT_MIN_MATCH_SCORE

matplotlib.use("Agg")

PCA_MAX_POINTS = 20_000
RANDOM_STATE = 42
DEMOGRAPHIC_MAX_CATEGORIES = 6

# Okabe-Ito: distinguishable with the common colour-vision deficiencies; grey is kept last.
SEGMENT_COLOURS = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]
# Rule-defined segments are not clusters: one neutral grey, unlike any cluster's colour.
RULE_DEFINED_COLOUR = "#8C8C8C"

CATEGORY_LABELS = {"F": "Female", "M": "Male"}
# After a weakly matched segment's name in every figure (marts.segments.is_weak_persona_match).
WEAK_MARK = " (weak match)"
# The segment-name column of marts.segments: the one place the figures read it.
NAME_COLUMN = "segment_name"


def is_weak(value: object) -> bool:
    """A segment's ``is_weak_persona_match``: NULL (a rule-defined segment) is not weak."""
    return not is_missing(value) and bool(value)


def weak_flags(segments: pd.DataFrame) -> list[bool]:
    """Per segment (row), whether its persona match is weak; none is without the column."""
    if "is_weak_persona_match" not in segments:
        return [False] * len(segments)
    return [is_weak(flag) for flag in segments["is_weak_persona_match"]]


def figure_labels(segments: pd.DataFrame) -> dict[str, str]:
    """Every segment's label in the figures by segment_key: its name, ``WEAK_MARK`` after it when
    its persona match is weak."""
    return {
        key: f"{name}{WEAK_MARK}" if weak else str(name)
        for key, name, weak in zip(
            segments["segment_key"], segments[NAME_COLUMN], weak_flags(segments), strict=True
        )
    }


def cluster_labels(segments: pd.DataFrame) -> dict[int, str]:
    """The clustered segments' figure labels by cluster_id (the clustering figures)."""
    labels = figure_labels(segments)
    clustered = segments[segments["segment_kind"] == CLUSTERED]
    return {
        int(c): labels[key] for c, key in zip(clustered["cluster_id"], clustered["segment_key"], strict=True)
    }


def weak_match_caption(segments: pd.DataFrame) -> str:
    """The captions' note on the weak-match mark; empty when no segment is weak."""
    weak = segments[weak_flags(segments)]
    if weak.empty:
        return ""
    stored = weak["persona_min_match_score"].dropna() if "persona_min_match_score" in weak else []
    threshold = float(stored.iloc[0]) if len(stored) else DEFAULT_MIN_MATCH_SCORE
    return (
        f" \u201c{WEAK_MARK.strip()}\u201d: the segment's centre fits its persona below {threshold:.2f} "
        "(cosine similarity), so the persona's name and action describe it poorly; read its profile "
        "before acting on them."
    )


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


def segment_key_colour(segment_kind: str, cluster_id: object) -> str:
    """A segment's colour: its cluster's for a clustered segment, grey for a rule-defined one."""
    if segment_kind != CLUSTERED or is_missing(cluster_id):
        return RULE_DEFINED_COLOUR
    return segment_colour(int(cluster_id))


def figure_segment_sizes(segments: pd.DataFrame) -> Figure:
    """Horizontal bars: patients per segment (clustered, then rule-defined), with both shares."""
    ordered = segments.iloc[::-1]  # barh draws bottom-up: the first segment on top
    labels = figure_labels(ordered)
    fig = Figure(figsize=(10, 0.7 * len(ordered) + 1.4), layout="constrained")
    ax = fig.add_subplot()
    bars = ax.barh(
        [
            labels[key] if kind == CLUSTERED else f"{labels[key]} (rule-defined)"
            for key, kind in zip(ordered["segment_key"], ordered["segment_kind"], strict=True)
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
    ax.set_xlim(0, ordered["num_patients"].max() * 2.05)
    ax.set_xlabel("Patients")
    ax.set_title("How many patients each segment covers", loc="left", fontsize=13, fontweight="bold")
    ax.tick_params(axis="y", labelsize=11)
    ax.spines[["top", "right"]].set_visible(False)
    return fig


# LACE bands, low to none: a sequential ramp for the scores, grey for no score
LACE_BAND_COLOURS = {"low": "#9ECAE1", "moderate": "#4292C6", "high": "#08306B", "none": "#D9D9D9"}
LACE_BAND_LABELS = {
    "low": "Low (0-4)",
    "moderate": "Moderate (5-9)",
    "high": "High (10+)",
    "none": "No index discharge",
}
LACE_TITLE = "LACE readmission risk per segment"
LACE_CAPTION = (
    "Each segment's patients by the LACE band of their last index discharge (a counted hospital "
    "episode left alive; LACE, van Walraven et al. 2010, scores the risk of death or unplanned "
    "readmission within 30 days, 0-19), and in grey those with no discharge to score (never admitted, "
    "or no counted episode left alive). From marts.segment_lace_bands; the mean score of the scored "
    "patients beside each bar."
)


def figure_lace_per_segment(lace_bands: pd.DataFrame, segments: pd.DataFrame) -> Figure:
    """Stacked horizontal bars: each segment's share of patients per LACE band (segment_lace_bands),
    segments in the report's order, with the mean score of the scored patients."""
    order = [key for key in segments["segment_key"] if key in set(lace_bands["segment_key"])][::-1]
    names = figure_labels(segments)
    fig = Figure(figsize=(10, 0.6 * len(order) + 1.6), layout="constrained")
    ax = fig.add_subplot()
    left = np.zeros(len(order))
    for band, colour in LACE_BAND_COLOURS.items():
        rows = lace_bands[lace_bands["lace_risk_band"] == band].set_index("segment_key").reindex(order)
        shares = rows["share_of_segment_patients"].fillna(0).to_numpy(dtype=float)
        ax.barh(
            range(len(order)),
            shares,
            left=left,
            color=colour,
            label=LACE_BAND_LABELS[band],
            edgecolor="white",
        )
        left += shares
    for position, key in enumerate(order):
        scored = lace_bands[(lace_bands["segment_key"] == key) & (lace_bands["lace_risk_band"] != "none")]
        patients = scored["num_patients"].sum()
        if patients:
            mean = float((scored["mean_lace_score"].fillna(0) * scored["num_patients"]).sum() / patients)
            ax.annotate(f" mean {mean:.1f}", (1.0, position), va="center", fontsize=9)
    ax.set_yticks(range(len(order)), [_wrap(names.get(key, key), 34) for key in order], fontsize=10)
    ax.set_xlim(0, 1.18)
    ax.set_xticks([0, 0.25, 0.5, 0.75, 1.0], ["0 %", "25 %", "50 %", "75 %", "100 %"])
    ax.set_xlabel("Share of the segment's patients")
    ax.set_title(LACE_TITLE, loc="left", fontsize=13, fontweight="bold")
    ax.legend(
        ncols=4, loc="upper center", bbox_to_anchor=(0.45, -0.12 if len(order) > 4 else -0.2), fontsize=9
    )
    ax.spines[["top", "right"]].set_visible(False)
    return fig


CONDITIONS_TITLE = "Most common conditions per segment"
CONDITIONS_CAPTION = (
    "Each segment's most common conditions, as AHRQ CCSR categories (ICD-9 codes through the CMS "
    "GEM), by the share of the segment's patients with at least one diagnosis in the category; "
    "the grey tick is the share in the clustered population. Each bar is labelled with the "
    "category, its body system and its most common diagnosis in the segment (docs/conditions.md)."
)
# conditions shown per segment in the figure (the mart holds var segment_top_diagnoses_limit)
CONDITIONS_SHOWN = 5


def figure_top_conditions(
    conditions: pd.DataFrame, segments: pd.DataFrame, shown: int = CONDITIONS_SHOWN
) -> Figure:
    """One panel per segment (the report's order): horizontal bars of the share of the segment's
    patients in each of its top ``shown`` CCSR categories (segment_top_conditions), with the
    clustered population's share as a grey tick."""
    order = [key for key in segments["segment_key"] if key in set(conditions["segment_key"])]
    names = figure_labels(segments)
    columns = 2
    rows = max(1, -(-len(order) // columns))
    fig = Figure(figsize=(13, 2.6 * rows + 0.8), layout="constrained")
    panels = list(fig.subplots(rows, columns, sharex=True, squeeze=False).flat)
    for ax, key in zip(panels, order, strict=False):
        top = conditions[conditions["segment_key"] == key].sort_values("condition_rank").head(shown)[::-1]
        positions = np.arange(len(top))
        ax.barh(positions, top["share_of_segment"].astype(float), color="#0072B2")
        ax.scatter(
            top["share_of_clustered_population"].astype(float),
            positions,
            marker="|",
            s=220,
            color="#555555",
            zorder=3,
        )
        labels = [
            _wrap(f"{code} {body}: {diagnosis}", 48)
            for code, body, diagnosis in zip(
                top["ccsr_category_code"], top["body_system_name"], top["top_diagnosis_name"], strict=True
            )
        ]
        ax.set_yticks(positions, labels, fontsize=8)
        ax.set_title(_wrap(names.get(key, key), 60), loc="left", fontsize=10.5)
        ax.spines[["top", "right"]].set_visible(False)
    for ax in panels[len(order) :]:
        fig.delaxes(ax)
    for ax in fig.axes:
        ax.set_xlim(0, 1)
        ax.xaxis.set_tick_params(labelbottom=True)
        ax.set_xticks([0, 0.25, 0.5, 0.75, 1.0], ["0 %", "25 %", "50 %", "75 %", "100 %"])
    fig.suptitle(CONDITIONS_TITLE, fontsize=13, fontweight="bold", x=0.01, ha="left")
    fig.supxlabel("Share of the segment's patients with the condition (grey tick: clustered population)")
    return fig


def _wrap(text: str, width: int = 18) -> str:
    """``text`` in lines of at most ``width`` characters; a weak-match mark on a line of its own."""
    if text.endswith(WEAK_MARK):
        return f"{_wrap(text.removesuffix(WEAK_MARK), width)}\n{WEAK_MARK.strip()}"
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
    ticks = np.arange(-np.floor(limit), np.floor(limit) + 1)
    bar.set_ticks(ticks, labels=["average" if t == 0 else f"{t:+.0f} SD" for t in ticks])
    bar.set_label(
        "\u2190 below average          above average \u2192\n"
        "(standard deviations from the average admitted patient)"
    )
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
    names = figure_labels(shown)
    labels = [
        names[key] if kind == CLUSTERED else f"{names[key]} (rule-defined)"
        for key, kind in zip(shown["segment_key"], shown["segment_kind"], strict=True)
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


@dataclass(frozen=True)
class RenderedFigure:
    name: str
    title: str
    png: bytes
    caption: str

    @property
    def png_base64(self) -> str:
        """The PNG for a ``data:`` URI: the page embeds every figure, so the one file can be mailed."""
        return base64.b64encode(self.png).decode("ascii")


RETURN_CURVES_CAPTION = (
    "Share of patients back in hospital t days after their first discharge alive (one index per "
    "patient), one panel per segment on the same axes: the cumulative incidence of return with death "
    "as a competing risk (Aalen-Johansen), with a 95 % pointwise band (log(-log) interval), and in grey "
    "the curve of all patients for reference; the figures in each panel are the segment's share back by "
    "day 30, 90 and 365 (the table below gives their intervals). Follow-up is censored at the earliest "
    "end of data the anchor year group allows. One hospital only: returns elsewhere are not seen."
)
RETURN_OVERALL_CAPTION = (
    "All patients: the curve of return with death competing beside 1 - Kaplan-Meier with deaths "
    "censored (which overstates returns where patients die), the incidence of death before any return, "
    "and the curve of return if the end of data were later (its midpoint and latest estimates)."
)


def build_figures(data: ReportData) -> list[RenderedFigure]:
    names = cluster_labels(data.segments)
    weak_note = weak_match_caption(data.segments)
    pca_fig, pca_caption = figure_pca(data.patients, data.centroids, names)
    chosen = data.diagnostics[data.diagnostics["is_chosen"]].iloc[0]
    min_stability = float(chosen["rule_min_stability"])
    min_share = float(chosen["rule_min_segment_share"])
    segment_order = list(data.segments["segment_key"])
    return [
        RenderedFigure(
            "segment_sizes",
            "Segment sizes",
            figure_png(figure_segment_sizes(data.segments)),
            "Patients per segment, as a share of the registry (every patient) and, for clustered segments, "
            "of the clustered (admitted) population. Clustered segments are named by the persona rule from "
            "their centroids; rule-defined segments (hatched grey) by their rule." + weak_note,
        ),
        RenderedFigure(
            "centroid_heatmap",
            "What sets each segment apart",
            figure_png(figure_centroid_heatmap(data.centroids, names)),
            "Clustered segments only. Each cell: how far the segment's centre lies from the average admitted "
            "patient, in standard deviations (red above average, blue below; counts and days are compared "
            "on a logarithmic scale, so that a few very long stays do not dominate), and in brackets the "
            "centre back in the feature's own units (for counts and days a typical patient's value, which "
            "lies below the segment's mean when a few patients have many)." + weak_note,
        ),
        RenderedFigure(
            "pca", "Admitted patients by clustered segment", figure_png(pca_fig), pca_caption + weak_note
        ),
        RenderedFigure(
            "demographic_mix",
            "Demographic mix",
            figure_png(figure_demographic_mix(data.demographic_mix, data.segments)),
            "Share of each segment's patients by age bucket, gender, insurance and race (the last two from "
            "the most recent admission; 'Unknown' for a patient never admitted), next to all registry "
            "patients (and the admitted patients, when some are not admitted). Small categories are grouped "
            "as 'Smaller groups'." + weak_note,
        ),
        RenderedFigure(
            "return_curves",
            "Return to hospital, per segment",
            figure_png(
                return_curves.figure_return_curves(
                    data.return_curves,
                    segment_colours(data.segments),
                    segment_order,
                    figure_labels(data.segments),
                )
            ),
            RETURN_CURVES_CAPTION + weak_note,
        ),
        RenderedFigure(
            "return_curves_overall",
            "Return to hospital, all patients: estimator and end of data",
            figure_png(return_curves.figure_return_overall(data.return_curves)),
            RETURN_OVERALL_CAPTION,
        ),
        *lace_figures(data, weak_note),
        *condition_figures(data, weak_note),
        *prospective_figures(data),
        RenderedFigure(
            "k_selection",
            "Choosing k",
            figure_png(figure_k_selection(data.diagnostics, min_stability, min_share)),
            f"k = {int(chosen['k'])}: {chosen['selection_reason']}.",
        ),
    ]


def condition_figures(data: ReportData, weak_note: str = "") -> list[RenderedFigure]:
    """The top conditions per segment by CCSR category, when the database holds
    segment_top_conditions."""
    if data.top_conditions.empty:
        return []
    figure = figure_top_conditions(data.top_conditions, data.segments)
    return [
        RenderedFigure("top_conditions", CONDITIONS_TITLE, figure_png(figure), CONDITIONS_CAPTION + weak_note)
    ]


def lace_figures(data: ReportData, weak_note: str = "") -> list[RenderedFigure]:
    """LACE per segment, when the database holds segment_lace_bands."""
    if data.lace_bands.empty:
        return []
    figure = figure_lace_per_segment(data.lace_bands, data.segments)
    return [RenderedFigure("lace_per_segment", LACE_TITLE, figure_png(figure), LACE_CAPTION + weak_note)]


def prospective_figures(data: ReportData) -> list[RenderedFigure]:
    """The lift-and-concentration figure, when the database holds the prospective mart, and the
    comparison chart, when it holds segment_prospective_comparison."""
    if data.prospective.empty:
        return []
    figure = prospective.figure_lift_and_concentration(data.prospective, segment_colours(data.segments))
    figures = [
        RenderedFigure(
            "prospective", prospective.FIGURE_TITLE, figure_png(figure), prospective.FIGURE_CAPTION
        )
    ]
    if not data.comparison.empty:
        figures.append(
            RenderedFigure(
                "comparison",
                discrimination.FIGURE_TITLE,
                figure_png(discrimination.figure_comparison(data.comparison)),
                discrimination.FIGURE_CAPTION,
            )
        )
    return figures
