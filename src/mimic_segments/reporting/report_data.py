"""What the segmentation report reads: the marts, through a read-only connection, as one
``ReportData``.

Segments come in two kinds (``marts.segments.segment_kind``): *clustered* segments, the
K-Means segments of the clustering population (the patients with at least one hospital
admission), keyed ``cluster_<cluster_id>``; and *rule-defined* segments, defined by a rule
rather than fitted (the registry patients outside the clustering population, split by their
emergency department use, e.g. ``frequent_ed_use_never_admitted``). Every
segment mart is keyed on ``segment_key``; the clustering marts (``segment_centroids``,
``patient_clusters``, ``segmentation_diagnostics``) cover the clustered segments only, by
``cluster_id``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pandas as pd

from mimic_segments.catalogue import features
from mimic_segments.reporting import prospective, return_curves

CLUSTERED = "clustered"
RULE_DEFINED = "rule_defined"

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
    # marts.segment_lace_bands: each segment's patients by LACE band (empty before it existed)
    lace_bands: pd.DataFrame = field(default_factory=pd.DataFrame)
    # marts.segment_top_conditions: each segment's top CCSR categories (empty before it existed)
    top_conditions: pd.DataFrame = field(default_factory=pd.DataFrame)
    # marts.segment_prospective_comparison: the groupings compared (index mode only)
    comparison: pd.DataFrame = field(default_factory=pd.DataFrame)

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
        return dict(zip(clustered["cluster_id"].astype(int), clustered["segment_name"], strict=True))

    @property
    def segment_names(self) -> dict[str, str]:
        """Every segment's persona name by segment_key."""
        return dict(zip(self.segments["segment_key"], self.segments["segment_name"], strict=True))


def feature_label(name: str) -> str:
    return FEATURE_LABELS.get(name, name.replace("_", " ").capitalize())


def centroid_matrices(centroids: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Standardized and original-unit centroids, one row per segment, one column per feature."""
    order = centroids.drop_duplicates("feature_name").sort_values("feature_position")["feature_name"].tolist()
    scaled = centroids.pivot(index="cluster_id", columns="feature_name", values="centroid_scaled")[order]
    original = centroids.pivot(index="cluster_id", columns="feature_name", values="centroid_original_units")[
        order
    ]
    return scaled, original


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
                "select table_name from information_schema.tables where table_schema in ('marts', "
                "'segmentation')"
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
        thresholds = read("select cluster_id, persona_min_match_score from segmentation.segment_personas")
        segments = segments.merge(thresholds, on="cluster_id", how="left", validate="m:1")
        return ReportData(
            diagnostics=read("select * from segmentation.segmentation_diagnostics order by k"),
            centroids=read(
                "select * from segmentation.segment_centroids order by cluster_id, feature_position"
            ),
            segments=segments,
            top_diagnoses=read(
                "select * from marts.segment_top_diagnoses order by segment_key, diagnosis_rank"
            ),
            demographic_mix=read(
                "select * from marts.segment_demographic_mix order by segment_key, attribute_name, category"
            ),
            patients=read("select * from segmentation.patient_clusters order by subject_id"),
            catalogue=read("select * from raw.persona_catalogue order by catalogue_order"),
            build=(
                read("select * from marts.build_metadata").iloc[0].to_dict()
                if "build_metadata" in present
                else {}
            ),
            quality_warnings=(
                read(
                    "select check_name, severity, model_name, column_name, observed_value, description"
                    " from marts.data_quality_checks where not has_passed order by check_name"
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
            lace_bands=(
                read("select * from marts.segment_lace_bands order by segment_key, lace_risk_band_order")
                if "segment_lace_bands" in present
                else pd.DataFrame()
            ),
            top_conditions=(
                read("select * from marts.segment_top_conditions order by segment_key, condition_rank")
                if "segment_top_conditions" in present
                else pd.DataFrame()
            ),
            comparison=(
                read("select * from marts.segment_prospective_comparison")
                if "segment_prospective_comparison" in present
                else pd.DataFrame()
            ),
        )
