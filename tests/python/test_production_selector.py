"""The production build (selectors.yml, selector `production`; make build-prod, make release-build-prod).

It runs every seed, model and data test that can catch a bad release, without the unit tests
(static fixtures) and, while k is fixed, without the k-selection diagnostics and the tests that
read them; with `cluster_k: auto` it keeps the diagnostics, which record the choice the fit
makes. Checked with `dbt ls` (no build), on the demo's project.
"""

from __future__ import annotations

import json
from collections import Counter

import pytest
from conftest import run_dbt

DIAGNOSTICS = "segmentation_diagnostics"
CHOSEN_K_TEST = "assert_segment_centroids_use_the_chosen_k"


def listed(env: dict[str, str], *args: str) -> list[dict[str, object]]:
    result = run_dbt(env, "ls", "--output", "json", "--output-keys", "resource_type name depends_on", *args)
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


def reads_diagnostics(node: dict[str, object]) -> bool:
    depends_on = node.get("depends_on") or {}
    return any(parent.endswith(f".{DIAGNOSTICS}") for parent in depends_on.get("nodes", []))  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def ls_env(dbt_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The session's environment with a target of its own: `dbt ls` with other vars rewrites
    the manifest, which other modules read for the session's build."""
    return {**dbt_env, "DBT_TARGET_PATH": str(tmp_path_factory.mktemp("production_selector") / "target")}


@pytest.fixture(scope="module")
def everything(ls_env: dict[str, str]) -> list[dict[str, object]]:
    return listed(ls_env)


def test_the_full_build_has_unit_tests_and_the_diagnostics(everything: list[dict[str, object]]) -> None:
    kinds = Counter(node["resource_type"] for node in everything)
    assert kinds["unit_test"] >= 30
    assert any(node["name"] == DIAGNOSTICS for node in everything)
    assert any(node["name"] == CHOSEN_K_TEST for node in everything)


def test_with_a_fixed_k_production_leaves_out_unit_tests_and_the_diagnostics(
    ls_env: dict[str, str], everything: list[dict[str, object]]
) -> None:
    production = listed(ls_env, "--selector", "production")
    names = {node["name"] for node in production}
    assert not [node for node in production if node["resource_type"] == "unit_test"]
    assert DIAGNOSTICS not in names and CHOSEN_K_TEST not in names
    # (an exposure that lists the diagnostics stays: it documents, it does not run)
    assert not [
        node["name"] for node in production if reads_diagnostics(node) and node["resource_type"] != "exposure"
    ]
    # everything else is there: every seed, every other model, every data test not on the diagnostics
    expected = {
        (node["resource_type"], node["name"])
        for node in everything
        if node["resource_type"] in ("seed", "model", "test")
        and node["name"] != DIAGNOSTICS
        and not reads_diagnostics(node)
    }
    assert {(node["resource_type"], node["name"]) for node in production} >= expected
    assert {"patient_features", "segment_centroids", "patient_clusters"} <= names


def test_with_k_auto_production_keeps_the_diagnostics(ls_env: dict[str, str]) -> None:
    production = listed(ls_env, "--selector", "production", "--vars", "{cluster_k: auto}")
    names = {node["name"] for node in production}
    assert DIAGNOSTICS in names and CHOSEN_K_TEST in names
    assert not [node for node in production if node["resource_type"] == "unit_test"]
