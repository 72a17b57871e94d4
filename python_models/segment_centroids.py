"""dbt Python model: the fitted segmentation model as data (transforms, scaler, centroids).

The one full-population K-Means fit, at the k chosen by the rule ``segmentation_diagnostics``
records. It does not ref that model: a fixed k comes from the config, so this fit runs side
by side with the diagnostics instead of after them; for ``auto`` it applies the same
deterministic rule itself. A thin adapter over ``mimic_segments.segmentation.build_centroids``.
dbt passes a Python model only the configs named in literal ``dbt.config.get`` calls, hence
the list.
"""

from mimic_segments.segmentation import SegmentationConfig, build_centroids


def model(dbt, session):
    dbt.config(materialized="table")
    configs = {
        "cluster_k": dbt.config.get("cluster_k"),
        "cluster_k_min": dbt.config.get("cluster_k_min"),
        "cluster_k_max": dbt.config.get("cluster_k_max"),
        "cluster_random_state": dbt.config.get("cluster_random_state"),
        "cluster_log1p_features": dbt.config.get("cluster_log1p_features"),
        "cluster_diagnostics_sample_size": dbt.config.get("cluster_diagnostics_sample_size"),
        "cluster_silhouette_sample_size": dbt.config.get("cluster_silhouette_sample_size"),
        "cluster_stability_resamples": dbt.config.get("cluster_stability_resamples"),
        "cluster_min_stability": dbt.config.get("cluster_min_stability"),
        "cluster_min_segment_share": dbt.config.get("cluster_min_segment_share"),
    }
    config = SegmentationConfig.from_configs(configs)
    inputs = dbt.ref("int_patients_prepared_for_segmentation").df()
    return build_centroids(inputs, config)
