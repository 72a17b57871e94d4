"""The dbt docs site as its readers meet it: served on 127.0.0.1 and opened in headless Chromium.

Checks that the lineage graph, as the site draws it, reaches from every MIMIC-IV table through
the staging and feature models to `patient_clusters`, that definition text renders, and that
the single-file static site loads. Screenshots go to artifacts/ for a person to look at.

Needs Debian's chromium (`.ci/run` installs it). Without it the tests skip, except in CI.
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Flags for a closed network: no background calls home, no sandbox as root.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
MIMIC_TABLES = ["patients", "admissions", "diagnoses_icd", "icustays"]

playwright_api = pytest.importorskip("playwright.sync_api")

if not Path(CHROMIUM).exists():
    if os.environ.get("CI"):
        raise RuntimeError(f"chromium not found at {CHROMIUM}; .ci/run should have installed it")
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)", allow_module_level=True)


@pytest.fixture(scope="module")
def docs_site(built: dict[str, str], dbt: Callable[..., object]) -> Path:
    dbt("docs", "generate")
    dbt("docs", "generate", "--static")
    target = Path(built["DBT_TARGET_PATH"])
    assert (target / "index.html").is_file() and (target / "static_index.html").is_file()
    return target


@pytest.fixture(scope="module")
def base_url(docs_site: Path) -> Iterator[str]:
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(docs_site))

    class QuietHandler(handler.func):  # type: ignore[name-defined,misc]
        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(docs_site))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with playwright_api.sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture()
def page(browser: object) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 1600, "height": 1000})  # type: ignore[attr-defined]
    tab = context.new_page()
    yield tab
    context.close()


def _rendered_graph(page: object) -> dict[str, list]:
    """Nodes and edges of the lineage graph the site is currently drawing."""
    return page.evaluate(  # type: ignore[attr-defined]
        """() => {
            const graph = angular.element(document.body).injector().get('graph').graph;
            const elements = graph.elements || [];
            return {
                nodes: elements.filter(e => e.group === 'nodes').map(e => e.data.id),
                edges: elements.filter(e => e.group === 'edges').map(e => [e.data.source, e.data.target]),
            };
        }"""
    )


def _paths_to(target: str, edges: list[list[str]], start: str) -> list[list[str]]:
    """Every path from start to target along the edges (the graph is a small DAG)."""
    children: dict[str, list[str]] = {}
    for source, child in edges:
        children.setdefault(source, []).append(child)
    found: list[list[str]] = []

    def walk(node: str, path: list[str]) -> None:
        if node == target:
            found.append(path)
            return
        for child in children.get(node, []):
            walk(child, [*path, child])

    walk(start, [start])
    return found


def test_lineage_graph_reaches_from_mimic_tables_to_patient_clusters(base_url: str, page: object) -> None:
    # wide enough for the node labels of the whole lineage to stay readable in the screenshot
    page.set_viewport_size({"width": 2600, "height": 1300})  # type: ignore[attr-defined]
    page.goto(f"{base_url}/index.html#!/model/model.mimic_segments.patient_clusters")  # type: ignore[attr-defined]
    page.wait_for_selector(".launcher-btn", timeout=30_000)  # type: ignore[attr-defined]
    page.click(".launcher-btn")  # type: ignore[attr-defined]
    page.click('[ng-click="showExpanded()"]')  # type: ignore[attr-defined]
    page.wait_for_function(  # type: ignore[attr-defined]
        "() => angular.element(document.body).injector().get('graph').graph.elements.length > 10"
    )
    page.wait_for_timeout(1500)  # let the layout settle before the screenshot  # type: ignore[attr-defined]
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "docs-lineage.png"))  # type: ignore[attr-defined]

    graph = _rendered_graph(page)
    target = "model.mimic_segments.patient_clusters"
    for table in MIMIC_TABLES:
        paths = _paths_to(target, graph["edges"], f"seed.mimic_segments.{table}")
        assert paths, f"the drawn lineage has no path from MIMIC table {table} to patient_clusters"
        via_staging_and_features = [
            p
            for p in paths
            if f"model.mimic_segments.stg_mimic__{table}" in p
            # the clustering inputs and the patient_features mart both read the assembled features
            and "model.mimic_segments.int_patient_features_assembled" in p
        ]
        assert via_staging_and_features, f"{table} does not reach patient_clusters via staging and features"
    # and on, downstream, to the BI consumers declared as exposures
    for exposure in ("care_management_segment_dashboard", "high_risk_outreach_list"):
        assert _paths_to(f"exposure.mimic_segments.{exposure}", graph["edges"], target), exposure


def test_definition_renders_its_text(base_url: str, page: object) -> None:
    page.goto(f"{base_url}/index.html#!/model/model.mimic_segments.admission_comorbidities")  # type: ignore[attr-defined]
    page.wait_for_selector("text=/Quan/", timeout=30_000)  # type: ignore[attr-defined]
    body = " ".join(page.inner_text("body").split())  # type: ignore[attr-defined]
    # the Charlson definition with its rule, hierarchy and citations
    assert "metastatic solid tumour (6) replaces any malignancy (2)" in body
    assert "Med Care. 2005;43(11):1130-9" in body and "J Chronic Dis. 1987;40(5):373-83" in body
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "docs-definition.png"), full_page=False)  # type: ignore[attr-defined]


def test_overview_page_and_static_site(docs_site: Path, page: object) -> None:
    page.goto((docs_site / "static_index.html").as_uri())  # type: ignore[attr-defined]
    page.wait_for_selector("text=MIMIC-IV patient segments", timeout=60_000)  # type: ignore[attr-defined]
    body = " ".join(page.inner_text("body").split())  # type: ignore[attr-defined]
    assert "Open Database License" in body and "shifts every date of a patient" in body
    page.screenshot(path=str(ARTIFACTS / "docs-overview.png"))  # type: ignore[attr-defined]
