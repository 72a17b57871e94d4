"""The README and the guides in docs/: their links lead somewhere, the queries they give BI users
run, the version they name is the project's, and `make help` reads as written."""

from __future__ import annotations

import re
import subprocess
import tomllib
from importlib import metadata
from pathlib import Path

import duckdb
import pytest
import yaml

import mimic_segments
from mimic_segments import PROJECT_ROOT

README = PROJECT_ROOT / "README.md"
PAGES = [README, PROJECT_ROOT / "CHANGELOG.md", *sorted((PROJECT_ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.DOTALL | re.MULTILINE)


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = heading.strip().lower().replace("`", "")
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    prose = FENCE.sub("", page.read_text())
    return {github_anchor(line.lstrip("#")) for line in prose.splitlines() if line.startswith("#")}


def test_every_link_between_the_pages_leads_to_a_file_and_heading() -> None:
    broken = []
    for page in PAGES:
        for target in LINK.findall(FENCE.sub("", page.read_text())):
            if re.match(r"[a-z]+:", target):  # https:, mailto:
                continue
            path, _, anchor = target.partition("#")
            linked = (page.parent / path).resolve() if path else page
            where = f"{page.relative_to(PROJECT_ROOT)}: {target}"
            if not linked.exists():
                broken.append(f"{where} (no such file)")
            elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
                broken.append(f"{where} (no such heading)")
    assert not broken, broken


def test_the_readme_is_an_entry_page_that_links_every_guide() -> None:
    text = README.read_text()
    assert len(text.splitlines()) <= 200
    guides = [
        page
        for page in sorted((PROJECT_ROOT / "docs").glob("*.md"))
        if "{% docs" not in page.read_text()  # docs blocks are read on the docs site
    ]
    unlinked = [page.name for page in guides if f"(docs/{page.name}" not in text]
    assert guides and not unlinked, unlinked


def test_the_guides_hold_no_jinja() -> None:
    # dbt parses every .md file of docs/ for docs blocks: elsewhere Jinja would break the parse
    jinja = [
        page.name
        for page in sorted((PROJECT_ROOT / "docs").glob("*.md"))
        if "{% docs" not in page.read_text() and re.search(r"\{[{%#]", page.read_text())
    ]
    assert not jinja, jinja


def test_the_version_is_the_same_everywhere() -> None:
    pyproject = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]["version"]
    dbt_project = yaml.safe_load((PROJECT_ROOT / "dbt_project.yml").read_text())["version"]
    newest = re.search(r"^## \[(\d+\.\d+\.\d+)\]", (PROJECT_ROOT / "CHANGELOG.md").read_text(), re.MULTILINE)
    assert newest is not None
    assert pyproject == dbt_project == mimic_segments.__version__ == newest.group(1)
    # what build_metadata.project_version records: stale until `make install` reinstalls
    assert metadata.version("mimic-segments") == pyproject, "run `make install`"


def test_make_help_lists_every_target_as_written() -> None:
    makefile = (PROJECT_ROOT / "Makefile").read_text()
    documented = re.findall(r"^([a-zA-Z_-]+):.*?## ", makefile, re.MULTILINE)
    listed = subprocess.run(
        ["make", "--no-print-directory", "help"], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert "$" not in listed  # a make escape ($$) printed as is
    assert [line.split()[1] for line in listed.splitlines()] == documented
    assert {"build", "test", "test-fast", "docs", "docs-serve"} <= set(documented)


def readme_bi_queries() -> list[str]:
    section = README.read_text().split("## For the BI user", 1)[1].split("\n## ", 1)[0]
    (block,) = re.findall(r"^```sql\n(.*?)^```", section, re.DOTALL | re.MULTILINE)
    return [query.strip() for query in block.split(";") if query.strip()]


def test_the_readme_gives_five_queries() -> None:
    assert len(readme_bi_queries()) == 5


@pytest.mark.parametrize("query", readme_bi_queries(), ids=lambda query: query.split("\n", 1)[0][3:40])
def test_each_readme_query_answers_on_the_demo(db: duckdb.DuckDBPyConnection, query: str) -> None:
    rows = db.execute(query).fetchall()
    assert rows, query
