"""dbt Python model: each clustered segment's persona, matched from its centroid (no refit).

A thin adapter over ``mimic_segments.segmentation.build_segment_personas``. The personas are
data: the seeds ``persona_catalogue`` (names, kinds, actions) and ``persona_signatures`` (each
clustered persona's signed feature weights). The weak-match threshold arrives as a config
(dbt passes a Python model only the configs named in literal ``dbt.config.get`` calls).
"""

from mimic_segments.segmentation import build_segment_personas


def model(dbt, session):
    dbt.config(materialized="table")
    centroids = dbt.ref("segment_centroids").df()
    catalogue = dbt.ref("persona_catalogue").df()
    signatures = dbt.ref("persona_signatures").df()
    return build_segment_personas(centroids, catalogue, signatures, dbt.config.get("persona_min_match_score"))
