"""dbt Python model: K-Means patient segments over the ``patient_features`` mart.

A thin adapter: it reads the mart, hands it to ``mimic_segments.clustering`` (where the logic
and its tests live) and returns the per-patient assignments. The vars ``cluster_features``,
``cluster_k`` and ``cluster_random_state`` reach it as model configs set in
``python_models/_python_models.yml`` (dbt exposes vars to Python models only that way).
"""

from mimic_segments.clustering import fit_segments, parse_feature_list


def model(dbt, session):
    dbt.config(materialized="table")

    features = parse_feature_list(dbt.config.get("cluster_features"))
    k = int(dbt.config.get("cluster_k"))
    random_state = int(dbt.config.get("cluster_random_state"))

    patient_features = dbt.ref("patient_features").df()
    result = fit_segments(patient_features, features, k=k, random_state=random_state)
    return result.assignments
