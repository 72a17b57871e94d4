"""dbt Python model: each segment's persona, named from its centroid profile (no refit).

A thin adapter over ``mimic_segments.segmentation.build_segment_personas``; the persona
catalogue seed is read to check that its names are the ones the naming rule uses.
"""

from mimic_segments.segmentation import build_segment_personas


def model(dbt, session):
    dbt.config(materialized="table")
    centroids = dbt.ref("segment_centroids").df()
    catalogue = dbt.ref("persona_catalogue").df()
    return build_segment_personas(centroids, catalogue["persona_name"].tolist())
